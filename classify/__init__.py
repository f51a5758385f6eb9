"""Chest X-ray classification on a manifest, and the tables of an augmentation study.

Reads: a manifest with a train/val/test split (``status == "ok"`` rows; single-label = exactly one
positive NIH-15 finding, "No Finding" a class; or ``multi_label`` multi-hot). Synthetic rows are
training data only: a synthetic row in val or test stops training and evaluation (AssertionError).
Writes (stats last):

* ``train``: ``OUT/best.pt`` (best val macro AUROC), ``last.pt`` (resume), ``history.jsonl``, ``stats.json``.
* ``evaluate``: ``OUT/metrics.json`` (per-class AUROC, precision, recall, F1, support; macro;
  balanced accuracy; confusion matrix), ``roc.png``, ``scores.npz``.
* ``report.write_report``: ``table.md``, ``table.csv``, ``auroc.png``, ``minority.png``,
  ``summary.html`` (self-contained), ``results.json``.

Backbones (:data:`classify.models.BACKBONES`): ``small-cnn`` (default, CPU-sized), ``small-cnn-wide``,
``resnet18``, ``densenet121`` (torchvision, ``weights=None``, 1-channel stem; pretrained weights only
from a local file). Augmentation policies: ``none``, ``classic`` (affine + intensity, no flips),
``oversample`` (class-balanced sampling); GAN augmentation = a manifest already holding synthetic
train rows (wired by ``medharvest classify train --augment gan:CKPT`` / ``study.runner``).
Runs under ``torchrun`` (DDP; ranks agree on weights), CUDA + fp16 autocast/GradScaler when present.

Public API:

* :class:`classify.train.ClassifyConfig`, :func:`classify.train.train_classifier` -> summary
* :func:`classify.evaluate.evaluate_classifier`, :func:`classify.evaluate.load_classifier`
* :class:`classify.data.ManifestDataset`, :data:`classify.policies.POLICIES` (augmentation policies)
* :func:`classify.metrics.compute`, :func:`classify.metrics.roc_png`

Never imports ``gan`` (or any other spoke).
"""

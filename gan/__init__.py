"""Class-conditional GAN for small, imbalanced medical image sets (augmenting rare classes).

Reads: a manifest (``manifest.parquet``) with a train/val/test split; only ``status == "ok"``,
real (non-synthetic) **train** rows with exactly one positive NIH-15 finding are used
(:func:`training.dataset_view.load_view`). Writes (per stage, stats last):

* ``train``: ``OUT/checkpoint.pt`` (G, D, EMA-G, optimizers, AMP scalers, RNG, epoch/step; resumes
  exactly), ``losses.jsonl``, ``samples/epoch_NNNN.png``, ``stats.json``.
* ``sample``: ``OUT/images/<class>/*.png`` + ``OUT/manifest.parquet`` of records with
  ``synthetic=True``, ``generator=<checkpoint sha256 prefix>``, ``label_source="synthetic"``,
  ``split="train"``, key ``synthetic:<id>-<class>-<n>``; merge with :func:`manifests.io.merge`.
* ``eval``: ``OUT/quality.json`` (per-class FID, KID, precision/recall, memorisation, class
  consistency under a linear probe fitted on real train rows) + ``memorised.jsonl``; features from
  :data:`gan.features.NAME` (a fixed random conv net, offline).

Model: conditional DCGAN or ResNet generator (class-conditional BatchNorm), projection
discriminator with spectral norm, hinge loss, DiffAugment (translation/cutout/brightness), EMA
generator with recalibrated BN statistics. Against collapse on small sets (options of
:class:`gan.train.GanConfig`): an AC-GAN class head (``aux_weight``), a mode-seeking term
(``ms_weight``), a minibatch-std layer in D (``mbstd``), class-balanced real batches, two
time-scale learning rates. Runs under ``torchrun`` (DDP; gloo on CPU, NCCL on GPU,
rank 0 writes); CUDA + fp16 autocast/GradScaler when a GPU is present.

Public API:

* :class:`gan.train.GanConfig`, :func:`gan.train.train_gan` (config, manifest, out) -> summary
* :func:`gan.sample.sample_balanced` (count, balance, sample), :func:`gan.sample.sample_to_manifest`, :func:`gan.sample.balance_counts`, :func:`gan.sample.counts_from_manifest`
* :func:`gan.evaluate.evaluate_generator`, :func:`gan.evaluate.precision_recall`
* :func:`gan.checkpoint.load_generator`, :func:`gan.checkpoint.checkpoint_id`
* :data:`gan.registry.ARCHITECTURES` (``dcgan``, ``resnet``), :func:`gan.registry.build`
* :func:`gan.diffaug.diff_augment`

Never imports ``classify`` (or any other spoke).
"""

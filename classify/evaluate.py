"""Evaluate a classifier checkpoint on a manifest split (default: test).

Writes into ``out``: ``metrics.json`` (per-class AUROC / precision / recall / F1 / support, macro
averages, balanced accuracy, confusion matrix), ``roc.png``, ``scores.npz`` (keys, scores, targets).
Synthetic rows never count: an evaluation set that holds one is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from classify.data import ManifestDataset
from classify.metrics import compute, roc_png
from classify.models import build
from classify.train import FORMAT, predict
from training.dataset_view import load_view
from manifests.errors import UsageError
from manifests.io import write_json_atomic


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    p = Path(path)
    if p.is_dir():
        p = p / "best.pt"
    if not p.is_file():
        raise UsageError(f"classifier checkpoint '{path}' does not exist")
    ck = torch.load(p, map_location=device, weights_only=False)
    if not isinstance(ck, dict) or ck.get("format") != FORMAT or "state_dict" not in ck:
        raise UsageError(f"'{p}' is not a medharvest classifier checkpoint (best.pt)")
    model = build(ck["arch"], n_classes=len(ck["classes"]))
    model.load_state_dict(ck["state_dict"])
    return model.to(device).eval(), ck


def evaluate_classifier(checkpoint: str | Path, manifest: str | Path, out: str | Path, *, split: str = "test",
                        device: str | None = None) -> dict:
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, ck = load_classifier(checkpoint, dev)
    view = load_view(manifest, classes=ck["classes"], multi_label=ck["multi_label"])
    view.assert_no_synthetic_in_eval()
    part = view.split(split)
    assert not part.synthetic.any(), "synthetic records must never be evaluated on"
    if len(part) == 0:
        raise UsageError(f"manifest '{manifest}' has no usable '{split}' rows for classes {ck['classes']}")
    scores = predict(model, ManifestDataset(part, size=ck["size"]), multi_label=ck["multi_label"], device=dev)
    metrics = compute(scores, part.targets, list(ck["classes"]), multi_label=ck["multi_label"])
    metrics.update({"split": split, "checkpoint_epoch": ck["epoch"], "arch": ck["arch"],
                    "augment": ck["config"].get("augment"), "train_counts": dict(zip(ck["classes"], ck["train_counts"]))})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    roc_png(scores, part.targets, list(ck["classes"]), out / "roc.png", multi_label=ck["multi_label"],
            title=f"ROC ({split}, {ck['arch']}, augment={ck['config'].get('augment')})")
    np.savez_compressed(out / "scores.npz", keys=np.array(part.keys), scores=scores, targets=part.targets)
    write_json_atomic(out / "metrics.json", metrics)
    return metrics

"""Classification metrics from scores: per-class AUROC, precision, recall, F1, support; balanced
accuracy; confusion matrix; ROC curves (PNG). Undefined values (a class absent from the set) are
``None`` in JSON and left out of macro averages, never silently 0; such a class is marked
``"scorable": false``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if y.min() == y.max():
        return math.nan
    return float(roc_auc_score(y, s))


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def compute(scores: np.ndarray, targets: np.ndarray, classes: list[str], *, multi_label: bool,
            threshold: float = 0.5) -> dict:
    """scores: (N, C) probabilities; targets: (N,) int (single-label) or (N, C) 0/1."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    c = len(classes)
    onehot = targets.astype(int) if multi_label else np.eye(c, dtype=int)[targets]
    per_class: dict[str, dict] = {}
    if multi_label:
        pred = (scores >= threshold).astype(int)
        confusion = {}
        bal = []
        for j, name in enumerate(classes):
            tn, fp, fn, tp = confusion_matrix(onehot[:, j], pred[:, j], labels=[0, 1]).ravel()
            confusion[name] = [[int(tn), int(fp)], [int(fn), int(tp)]]
            sens = tp / (tp + fn) if tp + fn else math.nan
            spec = tn / (tn + fp) if tn + fp else math.nan
            bal.append(np.nanmean([sens, spec]))
        p, r, f, s = precision_recall_fscore_support(onehot, pred, labels=list(range(c)), zero_division=0)
        balanced = float(np.nanmean(bal)) if bal else math.nan
        accuracy = float((pred == onehot).all(axis=1).mean()) if len(pred) else math.nan
    else:
        pred = scores.argmax(axis=1) if len(scores) else np.empty(0, int)
        p, r, f, s = precision_recall_fscore_support(targets, pred, labels=list(range(c)), zero_division=0)
        confusion = confusion_matrix(targets, pred, labels=list(range(c))).tolist() if len(pred) else []
        # balanced accuracy = mean recall over the classes present in targets (a class absent from a small
        # val split is not scorable; sklearn's balanced_accuracy_score would warn on every such call)
        present = np.unique(targets)
        balanced = float(np.mean(r[present])) if len(present) > 1 else math.nan
        accuracy = float((pred == targets).mean()) if len(pred) else math.nan
    for j, name in enumerate(classes):
        scorable = bool(s[j] > 0)    # no positive in the set: recall, F1 and AUROC are undefined (None), not 0
        per_class[name] = {
            "auroc": _clean(_auc(onehot[:, j], scores[:, j]) if len(scores) else math.nan),
            "precision": _clean(p[j]), "recall": _clean(r[j]) if scorable else None,
            "f1": _clean(f[j]) if scorable else None, "support": int(s[j]), "scorable": scorable,
        }
    aucs = [v["auroc"] for v in per_class.values() if v["auroc"] is not None]
    supported = [v for v in per_class.values() if v["scorable"]]
    return {
        "classes": list(classes), "multi_label": multi_label, "n": int(len(scores)), "per_class": per_class,
        "macro": {
            "auroc": _clean(float(np.mean(aucs)) if aucs else math.nan),
            "f1": _clean(float(np.mean([v["f1"] for v in supported])) if supported else math.nan),
            "recall": _clean(float(np.mean([v["recall"] for v in supported])) if supported else math.nan),
            "precision": _clean(float(np.mean([v["precision"] for v in supported])) if supported else math.nan),
        },
        "balanced_accuracy": _clean(balanced), "accuracy": _clean(accuracy), "confusion_matrix": confusion,
    }


def roc_png(scores: np.ndarray, targets: np.ndarray, classes: list[str], path: Path, *, multi_label: bool,
            title: str = "ROC") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    onehot = targets.astype(int) if multi_label else np.eye(len(classes), dtype=int)[targets]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for j, name in enumerate(classes):
        if len(scores) and onehot[:, j].min() != onehot[:, j].max():
            fpr, tpr, _ = roc_curve(onehot[:, j], scores[:, j])
            ax.plot(fpr, tpr, lw=1.2, label=f"{name} ({_auc(onehot[:, j], scores[:, j]):.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""Box-level recall and precision of identifier detection against ground-truth boxes.

Ground truth may be per word (the pseudo-PHI DICOM set) or per line (the sample dataset), and
predictions are per word, so matching is by *coverage*, not one-to-one: a ground-truth box is
found when predicted boxes cover at least ``min_cover`` of its area; a predicted box is correct
when at least ``min_cover`` of its area lies inside ground-truth boxes (grown by ``tol`` pixels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _mask(boxes: Sequence[dict], shape: tuple[int, int], grow: int = 0) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    for b in boxes:
        x0, y0 = max(0, int(b["left"]) - grow), max(0, int(b["top"]) - grow)
        x1, y1 = min(shape[1], int(b["left"] + b["width"]) + grow), min(shape[0], int(b["top"] + b["height"]) + grow)
        m[y0:y1, x0:x1] = True
    return m


def _covered(box: dict, mask: np.ndarray) -> float:
    x0, y0 = max(0, int(box["left"])), max(0, int(box["top"]))
    x1, y1 = min(mask.shape[1], int(box["left"] + box["width"])), min(mask.shape[0], int(box["top"] + box["height"]))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(mask[y0:y1, x0:x1].mean())


def score_image(pred: Sequence[dict], truth: Sequence[dict], shape: tuple[int, int], *, min_cover: float = 0.5, tol: int = 3) -> dict:
    """Counts for one image: ``{"gt", "gt_found", "pred", "pred_correct"}``."""
    pm, tm = _mask(pred, shape, grow=tol), _mask(truth, shape, grow=tol)
    return {
        "gt": len(truth),
        "gt_found": sum(_covered(g, pm) >= min_cover for g in truth),
        "pred": len(pred),
        "pred_correct": sum(_covered(p, tm) >= min_cover for p in pred),
    }


def totals(counts: Sequence[dict]) -> dict:
    gt = sum(c["gt"] for c in counts)
    pred = sum(c["pred"] for c in counts)
    found = sum(c["gt_found"] for c in counts)
    correct = sum(c["pred_correct"] for c in counts)
    return {"gt_boxes": gt, "pred_boxes": pred, "recall": found / gt if gt else None,
            "precision": correct / pred if pred else None}


#: presidio's ground truth (``ground_truth_0_and_2.json``) is in the coordinates of the image
#: padded by 25 px on each side (its OCR pads before reading): subtract this to get input pixels.
PRESIDIO_PAD = 25


def presidio_truth(gt: dict, name: str) -> list[dict]:
    """The pseudo-PHI ground-truth boxes of one image, in its own pixels."""
    return [{"left": b["left"] - PRESIDIO_PAD, "top": b["top"] - PRESIDIO_PAD, "width": b["width"], "height": b["height"],
             "text": b["label"]} for b in gt[name]]

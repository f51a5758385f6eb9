"""Label agreement: the text's four-state labels vs an image classifier's probabilities.

The classifier is passed in as a :class:`ProbabilityProvider` (curation may not import ``classify``;
``medharvest`` builds one from a ``classify train`` checkpoint). A confident contradiction is a
flag ``label_contradiction:<finding>``: the text says positive and the image model gives
p < ``positive_below`` , or the text says negative and p > ``negative_above``. With a single-label
(softmax) classifier a low p(finding) also happens when the model simply spreads its mass, so a
positive statement is only contradicted when the model is also confident of *another* class
(top p > ``other_above``). Uncertain and not-mentioned states never contradict.

Calibration (the defaults of :class:`curation.consistency.run.ConsistencyConfig`): the issue's
p < 0.05 flagged 15 % of the generated sample's clean pairs with the CPU-sized demo classifier
(it is weak on the small findings); p < 0.01 with top p > 0.9 flags 3.5 %. Stronger image models
afford looser thresholds: set them in ``[curate.consistency]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class ProbabilityProvider:
    """``predict(image_paths) -> (N, len(classes))`` probabilities; ``name`` goes into the details."""

    classes: tuple[str, ...]
    predict: Callable[[Sequence], np.ndarray]
    multi_label: bool = False
    name: str = "classifier"


def text_states(rec: dict, caption_labels: list[dict] | None = None) -> dict[str, str]:
    """{finding: state} the text states: the record's labels, else its caption's."""
    from manifests.schema import primary_labels

    labels = [lab for lab in rec.get("labels") or [] if lab.get("label_source") != "synthetic"]
    if rec.get("text") or not caption_labels:
        return primary_labels(labels)
    return primary_labels(caption_labels)


def label_checks(states: dict[str, str], probs: np.ndarray, classes: Sequence[str], *,
                 positive_below: float, negative_above: float, other_above: float = 0.0,
                 multi_label: bool = False) -> tuple[list[str], dict]:
    """Flags and evidence for one record."""
    flags, ev = [], {}
    top = int(np.argmax(probs)) if len(probs) else -1
    for k, (c, p) in enumerate(zip(classes, probs.tolist())):
        s = states.get(c)
        confident_other = multi_label or (top != k and float(probs[top]) > other_above)
        if s == "positive" and p < positive_below and confident_other or s == "negative" and p > negative_above:
            flags.append(f"label_contradiction:{c}")
            ev[c] = {"text": s, "p": round(float(p), 4)}
    return flags, ev

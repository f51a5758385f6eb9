"""Label agreement: the text's four-state labels vs an image classifier's probabilities.

The classifier is passed in as a :class:`ProbabilityProvider` (curation may not import ``classify``;
``medharvest`` builds one from a ``classify train`` checkpoint). A confident contradiction is a
flag ``label_contradiction:<finding>``: the text says positive and the image model gives
p < ``positive_below`` (default 0.05), or the text says negative and p > ``negative_above``
(default 0.95). Uncertain and not-mentioned states never contradict.
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
                 positive_below: float, negative_above: float) -> tuple[list[str], dict]:
    """Flags and evidence for one record."""
    flags, ev = [], {}
    for c, p in zip(classes, probs.tolist()):
        s = states.get(c)
        if s == "positive" and p < positive_below or s == "negative" and p > negative_above:
            flags.append(f"label_contradiction:{c}")
            ev[c] = {"text": s, "p": round(float(p), 4)}
    return flags, ev

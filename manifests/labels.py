"""The one label vocabulary of the toolkit.

Two vocabularies are in use in chest radiography:

* **ChestX-ray14** (Wang et al., CVPR 2017): 14 findings + ``No Finding`` (:data:`NIH14`).
* **CheXpert / MIMIC-CXR** (Irvin et al., AAAI 2019; Johnson et al., 2019): 14 observations,
  ``No Finding`` included (:data:`CHEXPERT14`).

Each label is in one of four states (:class:`State`): positive, negative, uncertain, not_mentioned.
Uncertain is never collapsed into anything else here; a consumer chooses a policy explicitly
(:func:`to_binary`).

Source spellings (``Infiltrate``, ``Pleural Thickening``, ``effusion`` ...) are mapped to the
canonical names in :data:`ALIASES` and nowhere else: call :func:`canonical`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping

from manifests.errors import UsageError
from manifests.registry import did_you_mean


class State(str, enum.Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"
    NOT_MENTIONED = "not_mentioned"


STATES: tuple[str, ...] = tuple(s.value for s in State)

#: Who produced a label.
LABEL_SOURCES: tuple[str, ...] = ("dataset", "ner", "human", "model", "synthetic", "caption")

NO_FINDING = "No Finding"

#: ChestX-ray14's 14 findings, in the order of the paper, then "No Finding".
NIH14: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)
NIH15: tuple[str, ...] = NIH14 + (NO_FINDING,)

#: CheXpert / MIMIC-CXR's 14 observations, in the order of the released CSV columns.
CHEXPERT14: tuple[str, ...] = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)

VOCABULARIES: dict[str, tuple[str, ...]] = {"nih14": NIH15, "chexpert": CHEXPERT14}

#: Every canonical finding name of either vocabulary.
ALL_FINDINGS: tuple[str, ...] = tuple(dict.fromkeys(NIH15 + CHEXPERT14))

#: ChestX-ray14 finding -> CheXpert observation (None: no CheXpert counterpart).
NIH_TO_CHEXPERT: dict[str, str | None] = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Effusion": "Pleural Effusion",
    "Infiltration": "Lung Opacity",
    "Mass": "Lung Lesion",
    "Nodule": "Lung Lesion",
    "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
    "Consolidation": "Consolidation",
    "Edema": "Edema",
    "Emphysema": None,
    "Fibrosis": None,
    "Pleural_Thickening": "Pleural Other",
    "Hernia": None,
    "No Finding": "No Finding",
}

#: CheXpert observation -> ChestX-ray14 findings it covers (empty: no counterpart).
CHEXPERT_TO_NIH: dict[str, tuple[str, ...]] = {
    obs: tuple(n for n, c in NIH_TO_CHEXPERT.items() if c == obs) for obs in CHEXPERT14
}

#: MeSH major headings (lower case, before any ``/`` qualifier) -> NIH finding: the mapping Open-i's
#: manual MeSH coding of the IU X-ray reports needs (used by the IU importer and the labeler bench).
MESH_TO_NIH: dict[str, str] = {
    "pulmonary atelectasis": "Atelectasis", "atelectasis": "Atelectasis", "cardiomegaly": "Cardiomegaly",
    "pleural effusion": "Effusion", "infiltrate": "Infiltration", "mass": "Mass", "nodule": "Nodule",
    "pneumonia": "Pneumonia", "pneumothorax": "Pneumothorax", "consolidation": "Consolidation",
    "pulmonary edema": "Edema", "emphysema": "Emphysema", "pulmonary emphysema": "Emphysema",
    "pulmonary fibrosis": "Fibrosis", "thickening": "Pleural_Thickening", "hernia, hiatal": "Hernia",
}

#: Source spellings -> canonical name. Keys are compared case-insensitively with "_"/"-" as spaces.
ALIASES: dict[str, str] = {
    "infiltrate": "Infiltration",
    "infiltrates": "Infiltration",
    "pleural thickening": "Pleural_Thickening",
    "pleural_thickening": "Pleural_Thickening",
    "effusions": "Effusion",
    "nodules": "Nodule",
    "masses": "Mass",
    "no findings": NO_FINDING,
    "normal": NO_FINDING,
    "nofinding": NO_FINDING,
    "enlarged cardiom.": "Enlarged Cardiomediastinum",
    "support device": "Support Devices",
    "lung lesions": "Lung Lesion",
    "airspace opacity": "Lung Opacity",
}


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


_CANONICAL: dict[str, str] = {_norm(n): n for n in ALL_FINDINGS}
_CANONICAL.update({_norm(k): v for k, v in ALIASES.items()})


def canonical(name: str) -> str:
    """Canonical finding name for a source spelling, or :class:`UsageError` with a suggestion.

    >>> canonical("Infiltrate")
    'Infiltration'
    >>> canonical("pleural effusion")
    'Pleural Effusion'
    """
    found = _CANONICAL.get(_norm(name))
    if found is None:
        raise UsageError(f"unknown finding '{name}'{did_you_mean(name, ALL_FINDINGS)}")
    return found


def is_finding(name: str) -> bool:
    return _norm(name) in _CANONICAL


def vocabulary(name: str) -> tuple[str, ...]:
    from manifests.registry import lookup

    return lookup(VOCABULARIES, name, "label vocabulary")


# --- states and their encodings ------------------------------------------------------------

#: CheXpert CSV encoding: 1.0 positive, 0.0 negative, -1.0 uncertain, blank not mentioned.
_NUMERIC_TO_STATE = {1: State.POSITIVE, 0: State.NEGATIVE, -1: State.UNCERTAIN}
_STATE_TO_NUMERIC = {State.POSITIVE: 1, State.NEGATIVE: 0, State.UNCERTAIN: -1, State.NOT_MENTIONED: None}


def state_from_numeric(value: object) -> State:
    """Decode a CheXpert-style cell: ``1``/``1.0`` ``0`` ``-1`` or blank/NaN/None.

    Anything else raises :class:`ValueError` naming the value (a per-row error for importers).
    """
    if value is None:
        return State.NOT_MENTIONED
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return State.NOT_MENTIONED
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"label value {value!r} is not one of 1, 0, -1 or blank") from None
    if isinstance(value, float) and math.isnan(value):
        return State.NOT_MENTIONED
    if isinstance(value, (int, float)) and float(value) in (1.0, 0.0, -1.0):
        return _NUMERIC_TO_STATE[int(value)]
    raise ValueError(f"label value {value!r} is not one of 1, 0, -1 or blank")


def state_to_numeric(state: str | State) -> int | None:
    return _STATE_TO_NUMERIC[State(state)]


def to_binary(state: str | State, *, uncertain: str = "positive") -> int:
    """Collapse a state to 0/1 with an explicit uncertainty policy (U-Ones or U-Zeros)."""
    state = State(state)
    if state is State.UNCERTAIN:
        if uncertain not in ("positive", "negative"):
            raise UsageError(f"uncertain policy '{uncertain}' must be 'positive' or 'negative'")
        return 1 if uncertain == "positive" else 0
    return 1 if state is State.POSITIVE else 0


def nih_to_chexpert(labels: Mapping[str, str]) -> dict[str, str]:
    """Map NIH-14 states to CheXpert observations.

    Several NIH findings may map onto one observation (Mass, Nodule -> Lung Lesion): the strongest
    state wins (positive > uncertain > negative > not_mentioned).
    """
    rank = {State.POSITIVE: 3, State.UNCERTAIN: 2, State.NEGATIVE: 1, State.NOT_MENTIONED: 0}
    out: dict[str, State] = {}
    for finding, state in labels.items():
        target = NIH_TO_CHEXPERT.get(canonical(finding))
        if target is None:
            continue
        s = State(state)
        if target not in out or rank[s] > rank[out[target]]:
            out[target] = s
    return {k: v.value for k, v in out.items()}


def chexpert_to_nih(labels: Mapping[str, str]) -> dict[str, str]:
    """Map CheXpert states to the NIH-14 findings they determine one-to-one.

    Lung Lesion and Lung Opacity cover several/wider NIH findings: a positive cannot be attributed
    (Mass or Nodule?), so they map only their negative and not_mentioned states.
    """
    out: dict[str, str] = {}
    for obs, state in labels.items():
        obs = canonical(obs)
        targets = CHEXPERT_TO_NIH.get(obs, ())
        if not targets:
            continue
        s = State(state)
        if len(targets) > 1 or obs == "Lung Opacity":
            if s in (State.NEGATIVE, State.NOT_MENTIONED):
                for t in targets:
                    out[t] = s.value
            continue
        out[targets[0]] = s.value
    return out


def parse_finding_list(cell: str, *, sep: str = "|") -> dict[str, str]:
    """ChestX-ray14 ``Finding Labels`` cell -> {finding: state} over the 15 NIH names.

    Listed findings are positive, the other NIH findings negative (the dataset asserts absence),
    "No Finding" positive only when alone. Unknown names raise :class:`UsageError`.
    """
    names = [canonical(p) for p in cell.split(sep) if p.strip()]
    if not names:
        raise ValueError("empty Finding Labels cell")
    bad = [n for n in names if n not in NIH15]
    if bad:
        raise ValueError(f"finding(s) {bad} are not ChestX-ray14 labels")
    out = {f: State.NEGATIVE.value for f in NIH15}
    for n in names:
        out[n] = State.POSITIVE.value
    if NO_FINDING in names and len(names) > 1:
        raise ValueError(f"'No Finding' listed together with {[n for n in names if n != NO_FINDING]}")
    return out


def positives(labels: Iterable[Mapping[str, str]] | Mapping[str, str]) -> list[str]:
    """Findings whose state is positive, for a {finding: state} mapping."""
    return [f for f, s in dict(labels).items() if s == State.POSITIVE.value]

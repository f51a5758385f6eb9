"""Entities of one report -> four-state labels in both vocabularies (no spaCy here).

Mention state: negated -> negative, uncertain -> uncertain, else positive. Per finding the
strongest mention wins: positive > uncertain > negative (CheXpert labeler convention); a finding
with no mention is ``not_mentioned``. Mentions in the clinical question, comparison or technique
sections (:data:`curation.text.sections.NON_FINDING_SECTIONS`) make no label.

"No Finding" follows the CheXpert labeler: positive when the report (non-empty) has no positive or
uncertain finding -- neither a labelled one nor another abnormality of the lexicon (granuloma,
degenerative change ...); support devices do not count. Otherwise it is not_mentioned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from manifests.labels import CHEXPERT14, NIH15, NO_FINDING, State

from curation.text.lexicon import CONCEPTS, FINDING
from curation.text.sections import NON_FINDING_SECTIONS

POS, NEG, UNC, NOT_MENTIONED = (State.POSITIVE.value, State.NEGATIVE.value, State.UNCERTAIN.value,
                                State.NOT_MENTIONED.value)
_RANK = {NOT_MENTIONED: 0, NEG: 1, UNC: 2, POS: 3}
_NIH_EMPTY = dict.fromkeys(NIH15, NOT_MENTIONED)
_CHEX_EMPTY = dict.fromkeys(CHEXPERT14, NOT_MENTIONED)


@dataclass
class ReportLabels:
    """What the labeler found in one report.

    ``entities``: dicts shaped like :data:`manifests.schema.ENTITY_TYPE` (``label`` is
    ``KIND:concept``, e.g. ``FINDING:effusion``, ``DEVICE:device``); ``nih``: {finding: state} over
    ``NIH15``; ``chexpert``: {observation: state} over ``CHEXPERT14``; ``error``: why the report
    could not be labelled (then every state is not_mentioned); ``mentions``: each entity's canonical
    concept with the normalisation path and score (:mod:`curation.text.normalize`).
    """

    entities: list[dict] = field(default_factory=list)
    nih: dict[str, str] = field(default_factory=dict)
    chexpert: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    #: normalised mentions ``{start, end, surface, concept, kind, score, path}`` (path: lexicon | fuzzy)
    mentions: list[dict] = field(default_factory=list)


def mention_state(negated: bool, uncertain: bool) -> str:
    if negated:
        return NEG
    if uncertain:
        return UNC
    return POS


def _raise(states: dict[str, str], name: str, state: str) -> None:
    if _RANK[state] > _RANK[states[name]]:
        states[name] = state


def aggregate(mentions: list[tuple], *, has_text: bool) -> ReportLabels:
    """``(start, end, text, kind, concept, negated, uncertain, section)`` tuples -> labels."""
    nih = dict(_NIH_EMPTY)
    chex = dict(_CHEX_EMPTY)
    abnormal = False
    entities = []
    for start, end, text, kind, key, negated, uncertain, section in mentions:
        entities.append({"start": start, "end": end, "text": text, "label": f"{kind}:{key}",
                         "negated": bool(negated), "uncertain": bool(uncertain), "section": section})
        if section in NON_FINDING_SECTIONS:
            continue
        concept = CONCEPTS.get(key)
        if concept is None:
            continue
        state = mention_state(negated, uncertain)
        for f in concept.nih:
            _raise(nih, f, state)
        for f in concept.chexpert:
            _raise(chex, f, state)
        if concept.kind == FINDING and concept.abnormal and state != NEG:
            abnormal = True
    if has_text and not abnormal:
        nih[NO_FINDING] = POS
        chex[NO_FINDING] = POS
    return ReportLabels(entities=entities, nih=nih, chexpert=chex)


def failed(error: str) -> ReportLabels:
    return ReportLabels(
        entities=[],
        nih=dict(_NIH_EMPTY),
        chexpert=dict(_CHEX_EMPTY),
        error=error,
    )

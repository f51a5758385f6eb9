"""Label report texts with the pipeline of :mod:`curation.text.nlp` (batched ``nlp.pipe``)."""

from __future__ import annotations

from collections.abc import Iterable

from curation.text.nlp import get_nlp
from curation.text.report import ReportLabels, aggregate, failed

EMPTY_REPORT = "empty report"


def label_reports(texts: Iterable[str | None], *, batch_size: int = 256) -> list[ReportLabels]:
    """One :class:`ReportLabels` per text, in order.

    A blank/None text gets ``error="empty report"``, an over-long one (> ``nlp.max_length``) an error
    too; the others are labelled.
    """
    texts = list(texts)
    out: list[ReportLabels | None] = [None] * len(texts)
    nlp = get_nlp()
    todo = []
    for i, t in enumerate(texts):
        if t is None or not isinstance(t, str) or not t.strip():
            out[i] = failed(EMPTY_REPORT)
        elif len(t) > nlp.max_length:
            out[i] = failed(f"report longer than {nlp.max_length:,} characters")
        else:
            todo.append(i)
    for i, doc in zip(todo, nlp.pipe((texts[i] for i in todo), batch_size=batch_size)):
        ents = doc._.mh_entities or []
        rl = aggregate(ents, has_text=True)
        fuzzy = doc.user_data.get("mh_fuzzy") or {}
        rl.mentions = [{"start": e[0], "end": e[1], "surface": e[2], "concept": e[4], "kind": e[3],
                        "score": fuzzy.get(e[0], 1.0), "path": "fuzzy" if e[0] in fuzzy else "lexicon"} for e in ents]
        out[i] = rl
    return out  # type: ignore[return-value]


def label_report(text: str | None) -> ReportLabels:
    return label_reports([text])[0]

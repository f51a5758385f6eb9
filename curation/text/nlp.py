"""The spaCy pipeline: ``spacy.blank("en")`` + sentences + sections + lexicon ruler + context.

Components, in order:

1. ``mh_sentences``: rule-based sentence starts (after ``.``/``!``/``?`` tokens -- the tokenizer
   keeps "Dr." and "e.g." whole and splits "x-XXXX." -- at blank lines and at section headers),
   and the section header offsets in ``doc.user_data["mh_sections"]``.
2. ``entity_ruler``: the lexicon of :mod:`curation.text.lexicon` (phrases matched on ``LOWER`` +
   a few token patterns); ``ent.label_`` is the kind, ``ent.ent_id_`` the concept.
3. ``mh_context``: negation / uncertainty by trigger scope (:mod:`curation.text.context`);
   writes ``doc._.mh_entities``.

:func:`get_nlp` builds the pipeline once per process (a lazy singleton). :func:`build_nlp` with
``context=False`` gives the same pipeline without our context component (the negspacy baseline
adds its own).
"""

from __future__ import annotations

import threading

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from curation.text.lexicon import ruler_patterns
from curation.text.sections import find_sections

_SENT_END = frozenset({".", "!", "?", "..", "...", "…"})

if not Doc.has_extension("mh_entities"):
    Doc.set_extension("mh_entities", default=None)


@Language.component("mh_sentences")
def mh_sentences(doc: Doc) -> Doc:
    sections = find_sections(doc.text)
    doc.user_data["mh_sections"] = sections
    header_chars = {start for start, _, _ in sections}
    starts: list[int] = []
    pending = True
    for tok in doc:
        if tok.i == 0 or tok.idx in header_chars or (pending and not (tok.is_punct or tok.is_space)):
            tok.is_sent_start = True
            starts.append(tok.i)
            pending = False
        else:
            tok.is_sent_start = False
        text = tok.text
        if text in _SENT_END or (tok.is_space and text.count("\n") >= 2):
            pending = True
    doc.user_data["mh_sent_starts"] = starts
    return doc


def build_nlp(*, context: bool = True) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("mh_sentences")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER", "validate": False})
    ruler.add_patterns(ruler_patterns())
    if context:
        from curation.text.context import Context  # noqa: F401 (registers the factory)

        nlp.add_pipe("mh_context")
    return nlp


_NLP: Language | None = None
_LOCK = threading.Lock()


def get_nlp() -> Language:
    """The process-wide pipeline, built on first use."""
    global _NLP
    if _NLP is None:
        with _LOCK:
            if _NLP is None:
                _NLP = build_nlp()
    return _NLP

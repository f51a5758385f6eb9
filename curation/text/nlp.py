"""The spaCy pipeline: ``spacy.blank("en")`` + sentences + sections + lexicon + context.

Components, in order:

1. ``mh_sentences``: rule-based sentence starts (after ``.``/``!``/``?`` tokens -- the tokenizer
   keeps "Dr." and "e.g." whole and splits "x-XXXX." -- at blank lines and at section headers);
   section header offsets go to ``doc.user_data["mh_sections"]``.
2. ``mh_lexicon``: the lexicon of :mod:`curation.text.lexicon` -- one precompiled
   ``PhraseMatcher`` on ``LOWER`` (match id ``KIND|concept``) plus the gap patterns, then spelling
   variants of one-word finding terms among the words left over (rapidfuzz,
   :mod:`curation.text.normalize`; offsets in ``doc.user_data["mh_fuzzy"]``) -- longest
   non-overlapping spans become ``doc.ents`` (``ent.label_`` = kind, ``ent.ent_id_`` = concept)
   and ``doc.user_data["mh_ents"]`` (``(start, end, kind, concept)`` token spans).
3. ``mh_context``: negation / uncertainty by trigger scope (:mod:`curation.text.context`);
   writes ``doc._.mh_entities``.

:func:`get_nlp` builds the pipeline once per process (a lazy singleton). :func:`build_nlp` with
``context=False`` gives the same pipeline without our context component (the negspacy baseline
adds its own ``negex``). Per-token work is done on ``doc.to_array`` columns, not Token objects:
this is what keeps the labeler above 2,000 reports/s on one core.
"""

from __future__ import annotations

import threading

import numpy as np
import spacy
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, LOWER, SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from curation.text.lexicon import FINDING, GAP_PATTERNS, phrase_patterns
from curation.text.sections import find_sections

if not Doc.has_extension("mh_entities"):
    Doc.set_extension("mh_entities", default=None)

_SENT_END_TEXT = (".", "!", "?", "..", "...", "…")


@Language.factory("mh_sentences")
class Sentences:
    def __init__(self, nlp: Language, name: str):
        self.ends = {nlp.vocab.strings.add(t) for t in _SENT_END_TEXT}

    def __call__(self, doc: Doc) -> Doc:
        text = doc.user_data.get("mh_text")
        if text is None:  # Doc.text joins all tokens on every access: once per doc at most
            text = doc.user_data["mh_text"] = doc.text
        sections = find_sections(text)
        doc.user_data["mh_sections"] = sections
        n = len(doc)
        if not n:
            doc.user_data["mh_sent_starts"] = []
            return doc
        arr = doc.to_array([LOWER, IDX, IS_PUNCT, IS_SPACE, LENGTH])
        lower = arr[:, 0].tolist()
        idx = arr[:, 1].tolist()
        punct = arr[:, 2].tolist()
        space = arr[:, 3].tolist()
        length = arr[:, 4].tolist()
        headers = {start for start, _, _ in sections}
        ends = self.ends
        starts = []
        pending = True
        for i in range(n):
            if i == 0 or idx[i] in headers or (pending and not punct[i] and not space[i]):
                starts.append(i)
                pending = False
            if lower[i] in ends or (space[i] and text.count("\n", idx[i], idx[i] + length[i]) >= 2):
                pending = True
        flags = np.full((n, 1), -1, dtype="int32")
        flags[starts, 0] = 1
        doc.from_array([SENT_START], flags.astype("uint64"))
        doc.user_data["mh_sent_starts"] = starts
        doc.user_data["mh_lower"] = lower
        doc.user_data["mh_idx"] = idx
        doc.user_data["mh_len"] = length
        return doc


@Language.factory("mh_lexicon")
class Lexicon:
    def __init__(self, nlp: Language, name: str):
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.labels: dict[int, tuple[str, str]] = {}
        strings = nlp.vocab.strings
        for key, phrases in phrase_patterns().items():
            self.matcher.add(key, list(nlp.tokenizer.pipe(phrases)))
            kind, concept = key.split("|")
            self.labels[strings[key]] = (kind, concept)
        self.kind_ids = {kind: strings.add(kind) for kind, _ in self.labels.values()}
        self.gaps = []
        for gp in GAP_PATTERNS:
            h = lambda words: frozenset(strings.add(w) for w in words)  # noqa: E731
            self.gaps.append((gp.concept, h(gp.first), h(gp.second), h(gp.filler), gp.max_fill,
                              h(gp.last), h(gp.tail)))

    def _gap_spans(self, lower: list[int]) -> list[tuple[int, int, str]]:
        out = []
        n = len(lower)
        for concept, first, second, filler, max_fill, last, tail in self.gaps:
            for i in range(n):
                if lower[i] not in first:
                    continue
                j = i + 1
                if j < n and lower[j] in second:
                    j += 1
                fill = 0
                while j < n and fill < max_fill and lower[j] in filler and lower[j] not in last:
                    j += 1
                    fill += 1
                if j < n and lower[j] in last:
                    j += 1
                    if j < n and lower[j] in tail:
                        j += 1
                    out.append((i, j, concept))
        return out

    def __call__(self, doc: Doc) -> Doc:
        lower = doc.user_data.get("mh_lower")
        if lower is None:
            lower = doc.to_array(LOWER).tolist()
        labels = self.labels
        cands = [(start, end) + labels[mid] for mid, start, end in self.matcher(doc)]
        cands.extend((start, end, FINDING, concept) for start, end, concept in self._gap_spans(lower))
        # longest first, then leftmost; keep the spans that overlap nothing kept
        cands.sort(key=lambda c: (c[0] - c[1], c[0]))
        taken = bytearray(len(doc) + 1)
        kept = []
        for c in cands:
            start, end = c[0], c[1]
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            kept.append(c)
        strings = doc.vocab.strings
        fuzzy = self._fuzzy(doc, lower, taken, kept)
        kept.sort()
        doc.set_ents([Span(doc, s, e, label=self.kind_ids[k], span_id=strings.add(c)) for s, e, k, c in kept],
                     default="outside")
        doc.user_data["mh_ents"] = kept
        doc.user_data["mh_fuzzy"] = fuzzy
        return doc

    @staticmethod
    def _fuzzy(doc: Doc, lower: list[int], taken: bytearray, kept: list) -> dict[int, float]:
        """Spelling variants of one-word finding terms among the words no phrase matched
        (:func:`curation.text.normalize.fuzzy_word`); appended to ``kept``. Returns {start_char: score}."""
        from curation.text.normalize import FUZZY_MIN_LEN, fuzzy_word

        lengths = doc.user_data.get("mh_len")
        idx = doc.user_data.get("mh_idx")
        strings = doc.vocab.strings
        out: dict[int, float] = {}
        for i, h in enumerate(lower):
            if taken[i] or (lengths is not None and lengths[i] < FUZZY_MIN_LEN):
                continue
            m = fuzzy_word(strings[h])
            if m is not None:
                kept.append((i, i + 1, m.kind, m.concept))
                taken[i] = 1
                out[idx[i] if idx is not None else doc[i].idx] = m.score
        return out


class KeepText:
    """The blank tokenizer, also keeping the input text in ``doc.user_data["mh_text"]``."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> Doc:
        doc = self.tokenizer(text)
        doc.user_data["mh_text"] = text
        return doc

    def pipe(self, texts, batch_size: int = 1000):
        for text in texts:
            yield self(text)


def build_nlp(*, context: bool = True) -> Language:
    nlp = spacy.blank("en")
    nlp.tokenizer = KeepText(nlp.tokenizer)
    nlp.add_pipe("mh_sentences")
    nlp.add_pipe("mh_lexicon")
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

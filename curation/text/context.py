"""Negation and uncertainty of each entity, by trigger scope (a NegEx-style algorithm, ours).

For an entity in a sentence:

* the nearest PRE trigger before it (``NEG_PRE`` / ``UNC_PRE`` within :data:`PRE_WINDOW` tokens,
  ``UNC_BI`` within :data:`BI_WINDOW`) applies unless a ``TERM`` or ``TERM_PRE`` phrase lies between;
  lists inherit it ("no effusion, pneumothorax or consolidation": nothing terminates the scope);
* the nearest POST trigger after it (``NEG_POST`` / ``UNC_POST`` within :data:`POST_WINDOW`)
  applies unless a ``TERM`` lies between ("Pneumothorax is not seen.");
* when both apply, the nearer one wins; a ``PSEUDO`` phrase ("no change") cancels the triggers it
  overlaps; overlapping triggers keep the longest ("cannot exclude" is uncertainty, not "not");
* words inside a gap-pattern entity can negate it ("heart size is normal"), see
  :data:`curation.text.lexicon.INTERNAL_NEGATION`; such an entity with its own verb ("the heart
  is enlarged") is a clause of its own and takes no pre-trigger from before it.

Sentence boundaries always end a scope. The result is ``doc._.mh_entities``: a list of
``(start_char, end_char, text, kind, concept, negated, uncertain, section)`` tuples.
"""

from __future__ import annotations

from bisect import bisect_right

from spacy.attrs import IDX, LENGTH, LOWER
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from curation.text.lexicon import INTERNAL_BORDERLINE, INTERNAL_NEGATION
from curation.text.sections import section_at
from curation.text.triggers import KINDS

#: Verbs that make a (gap-pattern) entity a clause of its own.
CLAUSE_VERBS = ("is", "are", "was", "were", "appears", "appear", "remains", "remain", "seems")

PRE_WINDOW = 18
POST_WINDOW = 10
BI_WINDOW = 4

_PRE = {"NEG_PRE": "neg", "UNC_PRE": "unc", "UNC_BI": "unc"}
_POST = {"NEG_POST": "neg", "UNC_POST": "unc", "UNC_BI": "unc"}


def _triggers(doc: Doc, matcher: PhraseMatcher, ids: dict[int, str]) -> list[tuple[int, int, set[str]]]:
    """Non-overlapping trigger spans ``(start, end, kinds)``, longest first, pseudo ones removed."""
    by_span: dict[tuple[int, int], set[str]] = {}
    for mid, start, end in matcher(doc):
        by_span.setdefault((start, end), set()).add(ids[mid])
    ordered = sorted(by_span, key=lambda se: (se[0] - se[1], se[0]))
    taken = bytearray(len(doc) + 1)
    out = []
    for start, end in ordered:
        if any(taken[start:end]):
            continue
        for i in range(start, end):
            taken[i] = 1
        kinds = by_span[(start, end)]
        if "PSEUDO" not in kinds:
            out.append((start, end, kinds))
    out.sort()
    return out


def internally_negated(span) -> bool:
    """A multi-word entity that negates itself: "heart size is normal", "heart is not enlarged"."""
    words = {t.lower_ for t in span}
    return bool(words & INTERNAL_NEGATION) and not words & INTERNAL_BORDERLINE


@Language.factory("mh_context")
class Context:
    def __init__(self, nlp: Language, name: str):
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.ids: dict[int, str] = {}
        for kind, phrases in KINDS.items():
            self.matcher.add(kind, list(nlp.tokenizer.pipe(phrases)))
            self.ids[nlp.vocab.strings[kind]] = kind
        self.internal_neg = frozenset(nlp.vocab.strings.add(w) for w in INTERNAL_NEGATION)
        self.internal_border = frozenset(nlp.vocab.strings.add(w) for w in INTERNAL_BORDERLINE)
        self.clause_verbs = frozenset(nlp.vocab.strings.add(w) for w in CLAUSE_VERBS)

    def __call__(self, doc: Doc) -> Doc:
        ents = doc.user_data.get("mh_ents")
        if ents is None:  # doc.ents set by another component
            ents = [(e.start, e.end, e.label_, e.ent_id_) for e in doc.ents]
        if not ents:
            doc._.mh_entities = []
            return doc
        triggers = _triggers(doc, self.matcher, self.ids)
        sent_starts = doc.user_data.get("mh_sent_starts") or [s.start for s in doc.sents]
        sections = doc.user_data.get("mh_sections") or []
        idx = doc.user_data.get("mh_idx")
        if idx is None:
            arr = doc.to_array([IDX, LENGTH, LOWER])
            idx, length, lower = arr[:, 0].tolist(), arr[:, 1].tolist(), arr[:, 2].tolist()
        else:
            length, lower = doc.user_data["mh_len"], doc.user_data["mh_lower"]
        text = doc.user_data.get("mh_text") or doc.text
        n = len(doc)
        n_sents = len(sent_starts)
        out = []
        for e_start, e_end, kind, concept in ents:
            s_idx = bisect_right(sent_starts, e_start) - 1
            s0 = sent_starts[s_idx] if s_idx >= 0 else 0
            s1 = sent_starts[s_idx + 1] if s_idx + 1 < n_sents else n
            pre = post = None
            pre_dist = post_dist = 0
            # a clause of its own ("... and the heart is enlarged") takes no trigger from before it
            own_clause = e_end - e_start > 2 and not self.clause_verbs.isdisjoint(lower[e_start:e_end])
            # nearest pre trigger: walk triggers backwards from the entity
            for t_start, t_end, kinds in ([] if own_clause else reversed(triggers)):
                if t_start >= e_start:
                    continue
                if t_start < s0:
                    break
                if t_end > e_start:
                    continue
                if "TERM" in kinds or "TERM_PRE" in kinds:
                    break
                hit = [k for k in kinds if k in _PRE]
                if hit:
                    dist = e_start - t_end
                    window = BI_WINDOW if hit == ["UNC_BI"] else PRE_WINDOW
                    if dist <= window:
                        pre = "neg" if "NEG_PRE" in hit else "unc"
                        pre_dist = dist
                    break
            for t_start, t_end, kinds in triggers:
                if t_start < e_end:
                    continue
                if t_end > s1 or "TERM" in kinds:
                    break
                hit = [k for k in kinds if k in _POST]
                if hit:
                    dist = t_start - e_end
                    window = BI_WINDOW if hit == ["UNC_BI"] else POST_WINDOW
                    if dist <= window:
                        post = "neg" if "NEG_POST" in hit else "unc"
                        post_dist = dist
                    break
            if pre and post:
                state = pre if pre_dist <= post_dist else post
            else:
                state = pre or post
            if e_end - e_start > 1 and state != "unc":
                words = set(lower[e_start:e_end])
                if words & self.internal_neg and not words & self.internal_border:
                    state = "neg"
            start_char = idx[e_start]
            end_char = idx[e_end - 1] + length[e_end - 1]
            out.append((start_char, end_char, text[start_char:end_char], kind, concept,
                        state == "neg", state == "unc", section_at(sections, start_char)))
        doc._.mh_entities = out
        return doc

"""Term normalisation: a mention's surface form -> a canonical concept of our vocabulary.

Concepts are the lexicon's (:data:`curation.text.lexicon.CONCEPTS`: findings such as
``effusion``, plus ``anatomy``, ``device``, ``modality``). Three paths, tried in order:

1. ``lexicon`` -- the surface form (lower-cased, whitespace folded, hyphen/space/plural variants)
   is a lexicon term: score 1.0. Abbreviations are lexicon terms ("chf", "ptx", "copd").
2. ``fuzzy`` -- a spelling variant of a one-word finding term ("cardiomegally", "atelectsis",
   "pneumothroax"): rapidfuzz ``fuzz.ratio`` >= :data:`FUZZY_CUTOFF` against the single-word terms of
   at least :data:`FUZZY_MIN_LEN` letters; score = ratio / 100. Common English words and the anatomy
   words are never fuzzy-matched (:data:`FUZZY_STOP`), so "effusions" is a plural, not a typo.
3. ``embedding`` (optional) -- nearest lexicon term by cosine similarity of a BERT-style encoder
   (SapBERT / BioBERT through ``transformers.AutoModel``, local weights only): :class:`EmbeddingMatcher`.

The report NER (:mod:`curation.text.nlp`) runs paths 1-2 on every report: a word no phrase matched
becomes a finding mention when it is a fuzzy match, so it gets negation / uncertainty like any
other. Every labelled report lists its mentions with ``path`` and ``score``
(:attr:`curation.text.report.ReportLabels.mentions`); :func:`path_counts` sums them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from curation.text.lexicon import FINDING, phrase_patterns

FUZZY_CUTOFF = 90.0
FUZZY_MIN_LEN = 8
#: Never fuzzy-matched: common words whose edit distance to a finding term is small.
FUZZY_STOP = frozenset({
    "infection", "injection", "inflation", "limitation", "dictation", "indication", "inflammation", "projection",
    "collection", "correction", "connection", "deflation", "elevation", "elevated", "evaluation", "calcified",
    "classified", "consolidated", "consulted", "congestive", "effective", "defective", "inspiration", "expiration",
    "emphasized", "atelectatic", "emphysematous", "nodularity", "intervention", "interstitial", "interval",
    "stability", "visualized", "visualization", "unchanged", "remaining", "mediastinum", "mediastinal",
    "granuloma", "granulomas", "calcification", "calcifications", "lungs", "vascularity", "fractures",
    "hemithorax", "hemithoraces", "generative", "articulation", "articulations", "regeneration", "degeneration",
    "pneumonectomy", "lobectomy", "thoracotomy", "thoracostomy", "sclerotic", "scoliotic", "neurosis", "necrosis",
})


@dataclass(frozen=True)
class Match:
    concept: str
    kind: str
    score: float
    path: str  # lexicon | fuzzy | embedding


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().strip())


@functools.lru_cache(maxsize=1)
def term_index() -> dict[str, tuple[str, str]]:
    """folded term -> (concept, kind), every variant of every term; a finding wins over other kinds."""
    out: dict[str, tuple[str, str]] = {}
    for key, phrases in phrase_patterns().items():
        kind, concept = key.split("|")
        for p in phrases:
            f = _fold(p)
            if f not in out or (kind == FINDING and out[f][1] != FINDING):
                out[f] = (concept, kind)
    return out


@functools.lru_cache(maxsize=1)
def _fuzzy_choices() -> tuple[list[str], list[tuple[str, str]]]:
    idx = term_index()
    words = [t for t, (c, k) in idx.items() if k == FINDING and " " not in t and "-" not in t
             and len(t) >= FUZZY_MIN_LEN and t.isalpha()]
    return words, [idx[w] for w in words]


@functools.lru_cache(maxsize=65536)
def fuzzy_word(word: str) -> Match | None:
    """A one-word finding term within :data:`FUZZY_CUTOFF` of ``word`` (not itself a term), or None."""
    w = word.lower()
    if len(w) < FUZZY_MIN_LEN or not w.isalpha() or w in FUZZY_STOP or w in term_index():
        return None
    from rapidfuzz import fuzz, process

    words, targets = _fuzzy_choices()
    best = process.extractOne(w, words, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    if best is None:
        return None
    concept, kind = targets[best[2]]
    return Match(concept, kind, round(best[1] / 100.0, 3), "fuzzy")


def normalize(surface: str, *, embedder: EmbeddingMatcher | None = None) -> Match | None:
    """The canonical concept of a surface form by the first path that resolves it (None: none does)."""
    f = _fold(surface)
    hit = term_index().get(f) or term_index().get(f.replace("-", " ")) or term_index().get(f.rstrip("s"))
    if hit:
        return Match(hit[0], hit[1], 1.0, "lexicon")
    if " " not in f:
        m = fuzzy_word(f)
        if m:
            return m
    if embedder is not None:
        return embedder.match(surface)
    return None


def path_counts(mentions: Iterable[dict]) -> dict[str, int]:
    """``{"lexicon": n, "fuzzy": n, "embedding": n}`` over normalised mentions."""
    return dict(Counter(m.get("path") or "unresolved" for m in mentions))


class EmbeddingMatcher:
    """Nearest lexicon term by encoder embedding (CLS token, L2-normalised), above ``threshold``.

    ``path`` is a local directory with a ``transformers`` encoder (``AutoModel``) and its tokenizer, e.g.
    SapBERT (``cambridgeltl/SapBERT-from-PubMedBERT-fulltext``) saved with ``save_pretrained``.
    """

    def __init__(self, path: str, *, threshold: float = 0.85, device: str | None = None, kinds=(FINDING,)):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from manifests.errors import UsageError

        try:
            self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot load the term encoder from '{path}': {err}") from err
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device)
        self.threshold = threshold
        idx = term_index()
        self.terms = [t for t, (_, k) in idx.items() if k in kinds]
        self.targets = [idx[t] for t in self.terms]
        self.matrix = self.encode(self.terms)

    def encode(self, texts: list[str], batch_size: int = 256):
        import torch

        out = []
        for k in range(0, len(texts), batch_size):
            enc = self.tok(texts[k:k + batch_size], padding=True, truncation=True, max_length=32,
                           return_tensors="pt").to(self.device)
            with torch.inference_mode():
                h = self.model(**enc).last_hidden_state[:, 0]
            out.append(torch.nn.functional.normalize(h.float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, 1)

    def match(self, surface: str) -> Match | None:
        sims = self.encode([_fold(surface)]) @ self.matrix.T
        best = int(sims.argmax())
        score = float(sims[0, best])
        if score < self.threshold:
            return None
        concept, kind = self.targets[best]
        return Match(concept, kind, round(score, 3), "embedding")

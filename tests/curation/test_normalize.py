"""Term normalisation: lexicon, rapidfuzz spelling variants, the optional encoder path, counts."""

from __future__ import annotations

import pytest

from curation.text import label_report
from curation.text.normalize import EmbeddingMatcher, fuzzy_word, normalize, path_counts


@pytest.mark.parametrize("surface,concept,path", [
    ("CHF", "congestion", "lexicon"), ("enlarged heart", "cardiomegaly", "lexicon"),
    ("Cardiomegally", "cardiomegaly", "lexicon"), ("pleural effusions", "effusion", "lexicon"),
    ("pneumothroax", "pneumothorax", "fuzzy"), ("atelectsis", "atelectasis", "fuzzy"),
    ("consolidaton", "consolidation", "fuzzy"),
])
def test_normalize_paths(surface, concept, path):
    m = normalize(surface)
    assert (m.concept, m.path) == (concept, path) and 0.9 <= m.score <= 1.0


@pytest.mark.parametrize("word", ["hemithorax", "infection", "indication", "pneumonectomy", "elevation", "short"])
def test_common_words_are_not_typos(word):
    assert fuzzy_word(word) is None


def test_fuzzy_mentions_get_context_and_are_counted():
    r = label_report("FINDINGS: No pneumothroax. Minimal bibasilar atelectsis.")
    assert r.nih["Pneumothorax"] == "negative" and r.nih["Atelectasis"] == "positive"
    assert path_counts(r.mentions) == {"fuzzy": 2, "lexicon": 1}
    fz = [m for m in r.mentions if m["path"] == "fuzzy"]
    assert fz[0]["surface"] == "pneumothroax" and fz[0]["concept"] == "pneumothorax" and fz[0]["score"] < 1


def test_embedding_matcher_tiny_random_bert(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + \
        ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "enc")
    BertModel(BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=20, max_position_embeddings=64)).save_pretrained(tmp_path / "enc")
    em = EmbeddingMatcher(str(tmp_path / "enc"), threshold=-1.0, device="cpu")
    m = normalize("zzqx blorp", embedder=em)          # no lexicon / fuzzy hit: the encoder answers
    assert m.path == "embedding" and m.kind == "FINDING" and -1.0 <= m.score <= 1.0
    assert normalize("zzqx blorp", embedder=EmbeddingMatcher(str(tmp_path / "enc"), threshold=1.01)) is None

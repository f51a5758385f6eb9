import json

import pytest
import torch

from gan import checkpoint as ckpt
from gan.evaluate import evaluate_generator, precision_recall
from gan.features import NAME
from gan.sample import balance_counts, counts_from_manifest, sample_to_manifest
from gan.train import GanConfig, train_gan
from training.dataset_view import load_view
from manifests.io import merge, read_manifest, rebase_image_paths, write_manifest
from manifests.schema import primary_labels


@pytest.fixture
def trained(toy32, tmp_path):
    out = tmp_path / "gan"
    train_gan(GanConfig(epochs=1, size=32, batch_size=8, z_dim=16, g_ch=8, d_ch=8, quiet=True), toy32, out)
    return out


def test_sample_writes_mergeable_synthetic_records(trained, toy32, tmp_path):
    out = tmp_path / "syn"
    need = balance_counts(counts_from_manifest(toy32, ["Cardiomegaly", "Effusion", "Nodule", "No Finding"]))
    assert need["No Finding"] == 0 and need["Nodule"] > 0
    s = sample_to_manifest(trained, out, n_per_class=need)
    gid = ckpt.checkpoint_id(trained)
    assert s["generator"] == gid and len(gid) == 16
    t = read_manifest(out).to_pylist()
    assert len(t) == sum(need.values())
    for r in t:
        assert r["synthetic"] is True and r["generator"] == gid and r["split"] == "train"
        assert r["key"].startswith(f"synthetic:{gid}-") and r["source"] == "synthetic"
        assert {lab["label_source"] for lab in r["labels"]} == {"synthetic"}
        assert (out / r["image_path"]).is_file()
    assert primary_labels(t[0]["labels"])[json.loads(t[0]["meta"])["class"]] == "positive"
    # merge with the real manifest (paths rebased into the merged manifest's directory)
    merged_dir = tmp_path / "merged"
    real = rebase_image_paths(read_manifest(toy32), toy32.parent, merged_dir)
    syn = rebase_image_paths(read_manifest(out), out, merged_dir)
    merged, conflicts = merge([real, syn])
    write_manifest(merged, merged_dir / "manifest.parquet")
    view = load_view(merged_dir)
    assert not conflicts and view.synthetic.sum() == len(t)
    assert all(p.is_file() for p in view.paths)
    view.assert_no_synthetic_in_eval()
    # deterministic: the same seed gives the same images
    s2 = sample_to_manifest(trained, tmp_path / "syn2", n_per_class=need)
    assert [r["image_sha256"] for r in read_manifest(tmp_path / "syn2").to_pylist()] == [r["image_sha256"] for r in t]
    assert s2["images"] == s["images"]


def test_precision_recall_extremes():
    a = torch.randn(40, 8)
    assert precision_recall(a, a.clone()) == (1.0, 1.0)
    p, r = precision_recall(a, a + 100.0)
    assert p == 0.0 and r == 0.0


def test_eval_reports_per_class_quality_and_memorisation(trained, toy32, tmp_path):
    res = evaluate_generator(trained, toy32, tmp_path / "q", n_per_class=16, memorised_threshold=0.0)
    assert res["feature_extractor"] == NAME
    assert set(res["per_class"]) == {"Cardiomegaly", "Effusion", "Nodule", "No Finding"}
    for v in res["per_class"].values():
        assert v["fid"] is not None and v["fid"] >= 0 and v["kid"] is not None
        assert 0 <= v["precision"] <= 1 and 0 <= v["recall"] <= 1
        assert v["memorised"] == 0
    saved = json.loads((tmp_path / "q" / "quality.json").read_text())
    assert saved["per_class"] == res["per_class"]
    # a threshold above every distance flags every generated image as a copy
    res = evaluate_generator(trained, toy32, tmp_path / "q2", n_per_class=16, memorised_threshold=2.0)
    assert res["memorised_total"] == 16 * 4
    rows = (tmp_path / "q2" / "memorised.jsonl").read_text().splitlines()
    assert len(rows) == 64 and json.loads(rows[0])["nearest_real"].startswith("toy:")


def _oracle(ignore_label: bool):
    """A stand-in 'generator' drawing toy images of the requested class (or always of class 3)."""
    import numpy as np

    from tests.gan.toyset import toy_image

    def generate(g, cls, n, *, seed, batch=128):
        rng = np.random.default_rng(seed + cls)
        return np.stack([toy_image(3 if ignore_label else cls, rng, 32) for _ in range(n)])
    return generate


def test_class_consistency_separates_a_conditioned_from_a_label_blind_generator(trained, toy32, tmp_path,
                                                                                 monkeypatch):
    import gan.evaluate as ev

    monkeypatch.setattr(ev, "generate", _oracle(ignore_label=False))
    good = evaluate_generator(trained, toy32, tmp_path / "good", n_per_class=24)
    monkeypatch.setattr(ev, "generate", _oracle(ignore_label=True))
    blind = evaluate_generator(trained, toy32, tmp_path / "blind", n_per_class=24)
    assert good["class_probe"]["chance"] == 0.25
    assert good["class_probe"]["real_val_balanced_accuracy"] >= 0.75
    assert good["mean"]["class_consistency"] >= 0.75
    # the label-blind generator is right only for the class it always draws
    assert blind["per_class"]["No Finding"]["class_consistency"] >= 0.75
    assert all(blind["per_class"][c]["class_consistency"] <= 0.25 for c in ("Cardiomegaly", "Effusion", "Nodule"))
    assert blind["mean"]["class_consistency"] < good["mean"]["class_consistency"] - 0.4

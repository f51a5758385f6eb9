"""The augmentation study end to end on a toy manifest with a tiny budget (study.runner)."""

import json

import pytest
import torch

from study.runner import ARMS, Budget, run_experiment
from training.dataset_view import load_view

TINY = Budget(clf_epochs=2, patience=2, gan_steps=1, gan_ch=8, batch_size=16, target_ratio=0.5, gan_filter=2)


@pytest.mark.slow
def test_five_arms_tables_and_html(toy, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "exp"
    s = run_experiment(toy, out, seeds=2, budget=TINY)
    assert s["classes"] == ["Cardiomegaly", "Effusion", "Nodule", "No Finding"]
    assert s["minority_classes"] == ["Cardiomegaly", "Effusion", "Nodule"]
    assert set(s["minority_macro_auroc"]) == set(ARMS)
    assert all(v["n"] == 2 for v in s["minority_macro_auroc"].values())
    md = (out / "table.md").read_text()
    assert "**Nodule** (minority)" in md and "minority macro AUROC" in md and "±" in md
    page = (out / "summary.html").read_text()
    assert "data:image/png;base64," in page and "http" not in page.replace("http-equiv", "")
    assert (out / "auroc.png").exists() and (out / "table.csv").exists()
    # the GAN arm trained on real + synthetic rows; every evaluation used real test rows only
    gan_stats = json.loads((out / "seed_0" / "generator" / "stats.json").read_text())
    assert gan_stats["train_rows"] == len(load_view(toy).split("train"))
    aug = load_view(out / "seed_0" / "gan_aug")
    assert aug.synthetic.sum() > 0 and set(aug.splits[aug.synthetic]) == {"train"}
    filt = json.loads((out / "seed_0" / "gan_aug" / "filter.json").read_text())
    assert filt["candidates_per_kept"] == 2 and filt["classifier"].endswith("baseline/best.pt")
    assert aug.synthetic.sum() == sum(filt["kept"].values()) == sum(filt["wanted"].values())
    for arm in ARMS:
        m = json.loads((out / "seed_0" / arm / "eval" / "metrics.json").read_text())
        assert m["split"] == "test" and m["n"] == len(load_view(toy).split("test"))
        st = json.loads((out / "seed_0" / arm / "stats.json").read_text())
        assert (st["synthetic_train_rows"] > 0) == (arm in ("gan", "classic+gan"))
        assert m["augment"] == {"baseline": "none", "gan": "none", "classic+gan": "classic"}.get(arm, arm)
    assert "classic+gan vs classic" in s["verdict"]
    assert json.loads((out / "seed_0" / "generator" / "stats.json").read_text())["steps"] >= 1
    # a re-run resumes: nothing is retrained
    before = (out / "seed_1" / "classic" / "best.pt").stat().st_mtime_ns
    s2 = run_experiment(toy, out, seeds=2, budget=TINY)
    assert (out / "seed_1" / "classic" / "best.pt").stat().st_mtime_ns == before
    assert s2["minority_macro_auroc"] == s["minority_macro_auroc"]


def test_sample_filter_keeps_the_most_class_like_synthetic_rows(toy, tmp_path):
    """Candidates labelled Nodule: 4 real-looking nodules among 16 'No Finding' images; the filter
    (a classifier trained on real rows) must pick the nodules."""
    import numpy as np

    from classify.train import ClassifyConfig, train_classifier
    from manifests.io import read_manifest, rebase_image_paths, write_manifest
    from manifests.labels import NIH15
    from manifests.schema import from_records, labels_list
    from study.runner import filter_synthetic

    clf = tmp_path / "clf"
    train_classifier(ClassifyConfig(epochs=6, patience=6, batch_size=16, quiet=True, device="cpu", threads=1), toy, clf)
    rows = rebase_image_paths(read_manifest(toy), toy.parent, tmp_path / "cand").to_pylist()
    nodules = [r for r in rows if r["key"].startswith("toy:toy2_")][:4]
    normals = [r for r in rows if r["key"].startswith("toy:toy3_")][:16]
    states = {f: ("positive" if f == "Nodule" else "negative") for f in NIH15}
    cand = [{**r, "key": f"synthetic:{r['key']}", "labels": labels_list(states, "synthetic"), "synthetic": True,
             "split": "train"} for r in nodules + normals]
    write_manifest(from_records(cand), tmp_path / "cand" / "manifest.parquet")
    kept, prob, n = filter_synthetic(tmp_path / "cand", clf / "best.pt", {"Nodule": 4})
    keys = kept.column("key").to_pylist()
    assert len(keys) == 4 and kept.column("synthetic").to_pylist() == [True] * 4
    assert sum(k.startswith("synthetic:toy:toy2_") for k in keys) >= 3
    assert 0 < prob["Nodule"] <= 1
    # the gate: asked for 12, it keeps only the rows at or above min_prob (here: the 5th best), not 12
    from classify.data import ManifestDataset
    from classify.evaluate import load_classifier
    from classify.train import predict

    model, ck = load_classifier(clf / "best.pt")
    view = load_view(tmp_path / "cand", classes=list(ck["classes"]))
    p = predict(model, ManifestDataset(view), multi_label=False, device=torch.device("cpu"))[:, ck["classes"].index("Nodule")]
    thr = float(np.sort(p)[::-1][4])
    gated, gprob, gn = filter_synthetic(tmp_path / "cand", clf / "best.pt", {"Nodule": 12}, min_prob=thr)
    assert sorted(gated.column("key").to_pylist()) == sorted(k for k, x in zip(view.keys, p) if x >= thr)
    assert gated.num_rows >= 5 and gprob["Nodule"] >= thr
    none, nprob, _ = filter_synthetic(tmp_path / "cand", clf / "best.pt", {"Nodule": 12}, min_prob=1.01)
    assert none.num_rows == 0 and nprob == {}


@pytest.mark.slow
def test_cross_validation_tests_every_image_once_and_pools_the_folds(toy, tmp_path):
    import numpy as np

    from manifests.io import read_meta

    torch.set_num_threads(1)
    out = tmp_path / "cv"
    s = run_experiment(toy, out, seeds=1, budget=TINY, folds=3, workers=1)
    study = load_view(toy, classes=s["classes"])
    seen = []
    for k in range(3):
        fold = out / "seed_0" / f"fold_{k}"
        view = load_view(fold, classes=s["classes"])
        assert read_meta(fold / "manifest.parquet")["cross_validation"] == {"folds": 3, "fold": k, "seed": 0,
                                                                            "source": str(toy)}
        for split in ("train", "val", "test"):   # patient-grouped: no patient in two parts of a fold
            others = {p for p, sp in zip(view.patients, view.splits) if sp != split}
            assert not {p for p, sp in zip(view.patients, view.splits) if sp == split} & others
        gan_rows = json.loads((fold / "generator" / "stats.json").read_text())["train_rows"]
        assert gan_rows == len(view.split("train"))          # the GAN saw this fold's train part only
        test_keys = np.load(fold / "gan" / "eval" / "scores.npz")["keys"].tolist()
        assert sorted(test_keys) == sorted(view.split("test").keys)
        seen += test_keys
    assert sorted(seen) == sorted(study.keys)                # every study image tested exactly once
    pooled = json.loads((out / "results.json").read_text())
    assert pooled["info"]["folds"] == 3 and "cross-validation" in pooled["info"]["evaluation"]
    assert all(v["n"] == 1 for v in s["minority_macro_auroc"].values())
    assert "cross-validation" in (out / "table.md").read_text()
    support = pooled["aggregate"]["arms"]["baseline"]["per_class"]
    assert sum(support[c]["support"] for c in s["classes"]) == len(study)
    # resume: a re-run retrains nothing and reproduces the pooled numbers
    before = (out / "seed_0" / "fold_2" / "classic" / "best.pt").stat().st_mtime_ns
    s2 = run_experiment(toy, out, seeds=1, budget=TINY, folds=3, workers=1)
    assert (out / "seed_0" / "fold_2" / "classic" / "best.pt").stat().st_mtime_ns == before
    assert s2["minority_macro_auroc"] == s["minority_macro_auroc"]

"""The augmentation study end to end on a toy manifest with a tiny budget (medharvest.experiment)."""

import json

import pytest
import torch

from medharvest.experiment import ARMS, Budget, run_experiment
from manifests.dataset_view import load_view

TINY = Budget(clf_epochs=2, patience=2, gan_steps=1, gan_ch=8, batch_size=16, target_ratio=0.5)


@pytest.mark.slow
def test_four_arms_tables_and_html(toy, tmp_path):
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
    for arm in ARMS:
        m = json.loads((out / "seed_0" / arm / "eval" / "metrics.json").read_text())
        assert m["split"] == "test" and m["n"] == len(load_view(toy).split("test"))
    assert json.loads((out / "seed_0" / "generator" / "stats.json").read_text())["steps"] >= 1
    # a re-run resumes: nothing is retrained
    before = (out / "seed_1" / "classic" / "best.pt").stat().st_mtime_ns
    s2 = run_experiment(toy, out, seeds=2, budget=TINY)
    assert (out / "seed_1" / "classic" / "best.pt").stat().st_mtime_ns == before
    assert s2["minority_macro_auroc"] == s["minority_macro_auroc"]

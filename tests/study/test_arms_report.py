"""The arm registry, the report built from it (markdown and the RENDERED HTML), budgets from TOML,
the imbalance design and the patient-level bootstrap; no training (fast)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from manifests.errors import UsageError
from study import arms
from study.report import aggregate, markdown_inline, verdict, write_report

CLASSES = ["Atelectasis", "No Finding"]


def _metrics(auc_minority: float, auc_major: float) -> dict:
    pc = {"Atelectasis": {"auroc": auc_minority, "f1": 0.3, "recall": 0.4, "precision": 0.5, "support": 7},
          "No Finding": {"auroc": auc_major, "f1": 0.8, "recall": 0.9, "precision": 0.7, "support": 40}}
    return {"per_class": pc, "macro": {"auroc": (auc_minority + auc_major) / 2, "f1": 0.55},
            "balanced_accuracy": 0.6}


def _per_seed() -> list[dict]:
    base = {"baseline": 0.60, "classic": 0.62, "oversample": 0.58, "gan": 0.65, "classic+gan": 0.66}
    return [{a: _metrics(v + 0.01 * s, 0.8) for a, v in base.items()} for s in range(2)]


def test_arms_are_declared_once_and_combine_policies():
    assert arms.names() == ("baseline", "classic", "oversample", "gan", "classic+gan")
    assert arms.reference().name == "baseline"
    cg = arms.get("classic+gan")
    assert cg.synthetic and cg.trainer_policy == "classic"
    assert arms.get("gan").synthetic and arms.get("gan").trainer_policy == "none"
    assert not arms.get("oversample").synthetic and arms.get("oversample").trainer_policy == "oversample"
    with pytest.raises(UsageError, match="did you mean 'classic\\+gan'"):
        arms.get("classic+gna")
    with pytest.raises(ValueError, match="declared twice"):
        arms.arm(arms.Arm("gan", ("gan",), "again"))


def test_verdict_from_the_declarations_reads_as_before():
    agg = aggregate(_per_seed(), classes=CLASSES, minority=["Atelectasis"], arms=arms.names())
    text = verdict(agg)
    assert text.startswith("GAN arm minority macro AUROC 0.655 ± 0.007 vs baseline 0.605 ± 0.007: delta +0.050; "
                           "seed spreads (mean ± std) do not overlap; target (>= +0.02 with non-overlapping spread) MET.")
    assert " GAN vs classic augmentation: delta +0.030 (GAN better)." in text
    assert " Synthetic rows on top of classic augmentation (classic+gan vs classic): delta +0.040, paired " in text
    assert text.endswith(" classic vs baseline: +0.020. oversample vs baseline: -0.020. classic+gan vs baseline: +0.060.")
    assert set(agg["comparisons"]) == {"classic_vs_baseline", "oversample_vs_baseline", "gan_vs_baseline",
                                       "classic+gan_vs_baseline", "gan_vs_classic", "classic+gan_vs_classic"}


def test_markdown_inline_bold():
    assert markdown_inline("**Atelectasis** (minority)") == "<b>Atelectasis</b> (minority)"
    assert markdown_inline("a < b ** c") == "a &lt; b ** c"
    assert markdown_inline("**minority macro AUROC**") == "<b>minority macro AUROC</b>"


def test_rendered_html_keeps_class_names_whole(tmp_path):
    from bs4 import BeautifulSoup

    agg = aggregate(_per_seed(), classes=CLASSES, minority=["Atelectasis"], arms=arms.names())
    info = {"manifest": "m", "budget": "small", "seeds": 2, "evaluation": "the manifest's test split",
            "split_counts": {"Atelectasis": {"train": 9, "val": 2, "test": 7}, "No Finding": {"train": 50, "val": 9, "test": 40}}}
    s = write_report(agg, info, tmp_path)
    soup = BeautifulSoup((tmp_path / "summary.html").read_text(), "html.parser")
    first = [tr.find("td") for tr in soup.find_all("tr") if tr.find("td")]
    names = [td.get_text() for td in first]
    assert "Atelectasis (minority)" in names and "minority macro AUROC" in names
    assert first[names.index("Atelectasis (minority)")].find("b").get_text() == "Atelectasis"
    assert "**" not in soup.get_text() and "ectasis**" not in soup.get_text()
    header = [th.get_text() for th in soup.find("table").find_all("th")]
    assert header[:3] == ["class", "train n (real)", "test n"] and header[3:] == list(arms.names())
    row = first[names.index("Atelectasis (minority)")].parent
    assert [td.get_text() for td in row.find_all("td")][1:4] == ["9", "7", "0.605 ± 0.007"]
    assert s["verdict"] == verdict(agg)


@pytest.mark.chromium
def test_rendered_html_in_chromium(tmp_path):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("no /usr/bin/chromium")
    agg = aggregate(_per_seed(), classes=CLASSES, minority=["Atelectasis"], arms=arms.names())
    write_report(agg, {"manifest": "m", "budget": "small", "seeds": 2}, tmp_path)
    png = tmp_path / "page.png"
    subprocess.run([str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tempfile.mkdtemp()}", f"--screenshot={png}", "--window-size=1200,1400",
                    (tmp_path / "summary.html").as_uri()], check=True, capture_output=True, timeout=120)
    from PIL import Image

    im = np.asarray(Image.open(png).convert("L"))
    assert im.shape == (1400, 1200) and im.min() < 80 and (im < 250).mean() > 0.02    # text and plots drawn


def test_budget_presets_and_toml_through_resolve(tmp_path):
    from medharvest.cli import main
    from medharvest.config import load_toml, resolve
    from study.runner import BUDGETS, Budget

    cfg = tmp_path / "x.toml"
    cfg.write_text("[experiment]\nseeds = 2\n[experiment.budget_settings]\ngan_steps = 7\nsize = 32\n")
    toml = load_toml(cfg, "experiment")
    b = resolve(Budget, base=BUDGETS["gpu"], toml=toml.pop("budget_settings"), flags={"batch_size": 64})
    assert (b.gan_steps, b.size, b.batch_size, b.gan_ch) == (7, 32, 64, BUDGETS["gpu"].gan_ch)
    assert BUDGETS["small"] == Budget()
    bad = tmp_path / "bad.toml"
    bad.write_text("[experiment.budget_settings]\ngan_step = 7\n")
    with pytest.raises(UsageError, match="did you mean 'gan_steps'"):
        resolve(Budget, toml=load_toml(bad, "experiment")["budget_settings"])
    assert main(["experiment", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert main(["experiment", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--budget", "gpuu"]) == 2
    assert not (tmp_path / "o").exists()                       # refused before any work


def test_two_folds_refused_before_any_work(toy, tmp_path):
    """Fold k tests, fold k+1 validates: with 2 folds nothing is left to train on (the GAN then failed
    after the folds were written, "only 0 real train rows"). Refused up front: exit 2, nothing written."""
    from medharvest.cli import main

    assert main(["experiment", str(toy), "--out", str(tmp_path / "o"), "--folds", "2", "-q"]) == 2
    assert not (tmp_path / "o").exists()


def test_imbalanced_manifests_keep_whole_patients_of_the_class(toy, tmp_path):
    from study.designs import imbalanced_manifests
    from training.dataset_view import load_view

    full = load_view(toy)
    ci = full.classes.index("No Finding")
    n_train = int(((full.splits == "train") & (full.targets == ci)).sum())
    paths = imbalanced_manifests(toy, tmp_path, seeds=2, cls="No Finding", ratio=0.25)
    kept = []
    for p in paths:
        v = load_view(p)
        tr = (v.splits == "train") & (v.targets == v.classes.index("No Finding"))
        assert round(0.25 * n_train) <= tr.sum() < n_train
        assert len(v.split("test")) == len(full.split("test")) and len(v.split("val")) == len(full.split("val"))
        others = (v.splits == "train") & ~tr
        assert others.sum() == ((full.splits == "train") & (full.targets != ci)).sum()
        pats = {v.patients[i] for i in np.flatnonzero(tr)}    # whole patients: none of theirs left out
        dropped = {full.patients[i] for i in range(len(full)) if full.splits[i] == "train" and full.targets[i] == ci
                   and full.keys[i] not in set(v.keys)}
        assert not pats & dropped
        kept.append(set(np.array(v.keys)[tr]))
    assert kept[0] != kept[1]                                  # seeds draw different patients
    with pytest.raises(UsageError, match="did you mean 'No Finding'"):
        imbalanced_manifests(toy, tmp_path / "x", seeds=1, cls="No Findings", ratio=0.1)


def test_bootstrap_resamples_patients_and_pairs_arms():
    from study.bootstrap import _draws, bootstrap

    patients = ["a", "a", "b", "c", "c", "c", "d", "e"]
    w, uniq = _draws(patients, 50, 0)
    assert len(uniq) == 5 and (w[:, 0] == w[:, 1]).all() and (w[:, 3] == w[:, 5]).all() and (w.sum(1) > 0).all()
    rng = np.random.default_rng(0)
    keys = np.array([f"k{i}" for i in range(200)])
    targets = np.array([1] * 40 + [0] * 160)
    good = np.stack([1 - (targets + 0.3 * rng.random(200)) / 1.3, (targets + 0.3 * rng.random(200)) / 1.3], 1)
    noise = rng.random((200, 2))
    runs = {"baseline": [{"keys": keys, "scores": noise, "targets": targets}],
            "gan": [{"keys": keys[::-1], "scores": good[::-1], "targets": targets[::-1]}]}   # row order does not matter
    out = bootstrap(runs, {k: k for k in keys}, ["No Finding", "Atelectasis"], ["Atelectasis"],
                    comparisons=[("gan", "baseline")], n_boot=200)
    g = out["arms"]["gan"]["minority_macro_auroc"]
    assert g["estimate"] == 1.0 and g["lo"] == 1.0
    d = out["deltas"]["gan_vs_baseline"]
    assert d["lo"] > 0.3 and d["intervals_apart"] and out["support"] == {"No Finding": 160, "Atelectasis": 40}


def test_metrics_absent_class_is_not_scorable_and_silent():
    from classify.metrics import compute

    scores = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    targets = np.array([0, 1, 1, 0])               # class 2 absent, but predicted once
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compute(scores, targets, ["a", "b", "c"], multi_label=False)
    assert m["per_class"]["c"] == {"auroc": None, "precision": 0.0, "recall": None, "f1": None, "support": 0,
                                   "scorable": False}
    assert m["balanced_accuracy"] == 0.75 and m["per_class"]["b"]["scorable"]
    json.dumps(m)


def test_sweep_table_plot_and_ratio_parsing(tmp_path):
    from bs4 import BeautifulSoup

    from study.sweep import parse_ratios, write_sweep

    assert parse_ratios("0.2,0.01,0.05,0.01") == [0.01, 0.05, 0.2]
    for bad in ("0,0.5", "1.5", "a,b", ""):
        with pytest.raises(UsageError, match="--ratios"):
            parse_ratios(bad)
    results = {}
    for r, shift in ((0.01, 0.0), (0.05, 0.1)):
        per_seed = [{a: _metrics(v + shift, 0.8) for a, v in zip(arms.names(), (0.5, 0.52, 0.48, 0.55, 0.56))}] * 2
        agg = aggregate(per_seed, classes=CLASSES, minority=["Atelectasis"], arms=arms.names())
        s = write_report(agg, {"seeds": 2}, tmp_path / f"ratio_{r:g}")
        results[r] = {**s, "minority_classes": ["Atelectasis"], "kept_train_rows": int(r * 1000)}
    out = write_sweep(results, "Atelectasis", tmp_path)
    assert [(row["ratio"], row["arm"]) for row in out["rows"]][:6] == [(0.01, a) for a in arms.names()] + [(0.05, "baseline")]
    assert out["rows"][3]["auroc_mean"] == 0.55 and out["rows"][8]["auroc_mean"] == 0.65
    assert (tmp_path / "sweep.png").stat().st_size > 5000 and (tmp_path / "sweep.csv").exists()
    soup = BeautifulSoup((tmp_path / "sweep.html").read_text(), "html.parser")
    assert soup.find("img")["src"].startswith("data:image/png;base64,")
    assert [td.get_text() for td in soup.find_all("tr")[1].find_all("td")][:3] == ["0.01", "10", "baseline"]

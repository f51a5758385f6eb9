"""The commands end to end: gan train -> gan sample -> classify train --augment gan:CKPT -> evaluate."""

import json

import pytest
import torch

from training.dataset_view import load_view
from manifests.io import read_manifest
from medharvest.cli import main


@pytest.mark.slow
def test_gan_and_classify_commands(toy, tmp_path):
    torch.set_num_threads(1)
    g = tmp_path / "gan"
    assert main(["gan", "train", str(toy), "--out", str(g), "--epochs", "1", "--batch-size", "16", "-q"]) == 0
    assert (g / "run.json").exists() and (g / "checkpoint.pt").exists()
    assert main(["gan", "train", str(toy), "--out", str(g), "--epochs", "1", "-q"]) == 2   # exists, no --resume
    s = tmp_path / "syn"
    assert main(["gan", "sample", str(g), "--out", str(s), "--balance", str(toy), "--target-ratio", "0.5", "-q"]) == 0
    rows = read_manifest(s).to_pylist()
    assert rows and all(r["synthetic"] and r["split"] == "train" for r in rows)
    c = tmp_path / "clf"
    assert main(["classify", "train", str(toy), "--out", str(c), "--augment", f"gan:{g}", "--epochs", "1",
                 "--batch-size", "16", "-q"]) == 0
    stats = json.loads((c / "stats.json").read_text())
    assert stats["synthetic_train_rows"] > 0
    assert load_view(c / "augmented").synthetic.sum() == stats["synthetic_train_rows"]
    e = tmp_path / "eval"
    assert main(["classify", "evaluate", str(c), str(toy), "--out", str(e), "-q"]) == 0
    assert json.loads((e / "metrics.json").read_text())["n"] == len(load_view(toy).split("test"))
    assert main(["classify", "train", str(toy), "--out", str(tmp_path / "x"), "--arch", "resnt18"]) == 2
    q = tmp_path / "q"
    assert main(["gan", "eval", str(g), str(toy), "--out", str(q), "--n-per-class", "8", "-q"]) == 0
    assert json.loads((q / "quality.json").read_text())["feature_extractor"].startswith("medharvest-randconv")

import json

import pytest

from classify.evaluate import evaluate_classifier
from classify.train import ClassifyConfig, train_classifier
from manifests.errors import UsageError
from manifests.io import read_manifest, write_manifest

CFG = dict(epochs=4, patience=10, batch_size=16, quiet=True, device="cpu", threads=1)


def test_training_lowers_the_loss_and_evaluates(toy, tmp_path):
    out = tmp_path / "clf"
    s = train_classifier(ClassifyConfig(**CFG), toy, out)
    hist = [json.loads(ln) for ln in (out / "history.jsonl").read_text().splitlines()]
    assert len(hist) == 4 and hist[-1]["train_loss"] < hist[0]["train_loss"] * 0.8
    assert (out / "best.pt").exists() and (out / "last.pt").exists() and s["best_epoch"] >= 1
    m = evaluate_classifier(out, toy, tmp_path / "eval")
    assert set(m["per_class"]) == set(s["classes"])
    for v in m["per_class"].values():
        assert set(v) == {"auroc", "precision", "recall", "f1", "support", "scorable"} and v["support"] > 0 and v["scorable"]
    assert len(m["confusion_matrix"]) == 4 and sum(map(sum, m["confusion_matrix"])) == m["n"]
    assert m["macro"]["auroc"] > 0.8            # the toy classes are easy
    assert (tmp_path / "eval" / "roc.png").stat().st_size > 1000
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["n"] == m["n"]


def test_resume_continues_exactly(toy, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train_classifier(ClassifyConfig(**{**CFG, "epochs": 2}), toy, a)
    train_classifier(ClassifyConfig(**{**CFG, "epochs": 1}), toy, b)
    with pytest.raises(UsageError, match="--resume"):
        train_classifier(ClassifyConfig(**{**CFG, "epochs": 2}), toy, b)
    train_classifier(ClassifyConfig(**{**CFG, "epochs": 2, "resume": True}), toy, b)
    assert (a / "history.jsonl").read_text() == (b / "history.jsonl").read_text()


def test_weight_averaging_and_loss_selection_resume_exactly(toy, tmp_path):
    """EMA weights are what is validated and saved; val loss selects; resume stays exact with both."""
    import torch

    cfg = {**CFG, "ema_decay": 0.9, "select_on": "loss"}
    a, b = tmp_path / "a", tmp_path / "b"
    train_classifier(ClassifyConfig(**{**cfg, "epochs": 3}), toy, a)
    train_classifier(ClassifyConfig(**{**cfg, "epochs": 1}), toy, b)
    train_classifier(ClassifyConfig(**{**cfg, "epochs": 3, "resume": True}), toy, b)
    assert (a / "history.jsonl").read_text() == (b / "history.jsonl").read_text()
    hist = [json.loads(ln) for ln in (a / "history.jsonl").read_text().splitlines()]
    best = torch.load(a / "best.pt", weights_only=False)
    last = torch.load(a / "last.pt", weights_only=False)
    assert best["ema"] is True and best["val_loss"] == min(h["val_loss"] for h in hist)
    if best["epoch"] == 3:    # the saved best is the averaged model, not the raw one
        assert all(torch.equal(best["state_dict"][k], last["ema"][k]) for k in best["state_dict"])
        assert any(not torch.equal(best["state_dict"][k], last["model"][k]) for k in best["state_dict"])
    m = evaluate_classifier(a, toy, tmp_path / "eval")
    assert m["macro"]["auroc"] > 0.8
    with pytest.raises(UsageError, match="selection metric"):
        ClassifyConfig(select_on="acc")


@pytest.mark.parametrize("policy", ["classic", "oversample"])
def test_policies_and_class_weights_run(toy, tmp_path, policy):
    s = train_classifier(ClassifyConfig(**{**CFG, "epochs": 1, "augment": policy, "class_weighted": True}), toy,
                         tmp_path / policy)
    assert s["epochs_run"] == 1


def test_multi_label(toy, tmp_path):
    out = tmp_path / "ml"
    train_classifier(ClassifyConfig(**{**CFG, "epochs": 1, "multi_label": True}), toy, out)
    m = evaluate_classifier(out, toy, tmp_path / "ml_eval")
    assert m["multi_label"] and m["confusion_matrix"]["Nodule"][1][1] >= 0


@pytest.mark.parametrize("split", ["val", "test"])
def test_synthetic_rows_never_reach_val_or_test(toy, tmp_path, split):
    t = read_manifest(toy).to_pylist()
    t[0].update(synthetic=True, generator="abc", split=split)
    bad = tmp_path / "bad" / "manifest.parquet"
    from manifests.schema import from_records

    write_manifest(from_records(t), bad, images_from=toy.parent)
    with pytest.raises(AssertionError, match="never reach val or test"):
        train_classifier(ClassifyConfig(**CFG), bad, tmp_path / "x")
    ok = tmp_path / "ok"
    train_classifier(ClassifyConfig(**{**CFG, "epochs": 1}), toy, ok)
    with pytest.raises(AssertionError, match="never reach val or test"):
        evaluate_classifier(ok, bad, tmp_path / "e")


def test_train_loss_synthetic_weight_and_smoothing():
    import torch
    import torch.nn.functional as F

    from classify.train import train_loss

    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 4, generator=g), torch.tensor([0, 1, 2, 3, 1, 2])
    syn = torch.tensor([False, False, False, True, True, False])
    cw = torch.tensor([1.0, 2.0, 0.5, 3.0])
    # defaults: exactly the plain (and class-weighted) cross-entropy
    assert torch.allclose(train_loss(logits, y, syn, multi_label=False), F.cross_entropy(logits, y))
    assert torch.allclose(train_loss(logits, y, syn, multi_label=False, weight=cw), F.cross_entropy(logits, y, weight=cw))
    per_row = F.cross_entropy(logits, y, reduction="none")
    # weight 0: synthetic rows add nothing; weight 0.5 halves them
    assert torch.allclose(train_loss(logits, y, syn, multi_label=False, synthetic_weight=0.0), per_row[~syn].sum() / 6)
    half = (per_row[~syn].sum() + 0.5 * per_row[syn].sum()) / 6
    assert torch.allclose(train_loss(logits, y, syn, multi_label=False, synthetic_weight=0.5), half)
    # smoothing 1 (LSRO): a synthetic row's target is uniform; real rows keep their class
    lsro = train_loss(logits, y, syn, multi_label=False, synthetic_smoothing=1.0)
    rows = per_row.clone()
    rows[syn] = -logits[syn].log_softmax(1).mean(1)
    assert torch.allclose(lsro, rows.mean())
    ml = train_loss(logits, F.one_hot(y, 4).float(), syn, multi_label=True, synthetic_weight=0.0)
    bce = F.binary_cross_entropy_with_logits(logits, F.one_hot(y, 4).float(), reduction="none").mean(1)
    assert torch.allclose(ml, bce[~syn].sum() / 6)


def _with_synthetic(toy, out, *, rotate_labels: bool):
    """The toy manifest with 12 train rows flagged synthetic; ``rotate_labels`` moves each to the next class."""
    from manifests.schema import from_records

    rows = read_manifest(toy).to_pylist()
    order = ["Atelectasis", "Cardiomegaly", "Effusion", "No Finding"]
    flagged = [r for r in rows if r["split"] == "train"][:12]
    for r in flagged:
        r.update(synthetic=True, generator="g")
        if rotate_labels:
            pos = next(lab["finding"] for lab in r["labels"] if lab["state"] == "positive")
            new = order[(order.index(pos) + 1) % len(order)]
            for lab in r["labels"]:
                lab["state"] = "positive" if lab["finding"] == new else "negative"
    path = out / "manifest.parquet"
    write_manifest(from_records(rows), path, images_from=toy.parent)
    return path


def test_synthetic_weight_zero_makes_synthetic_labels_irrelevant(toy, tmp_path):
    import torch

    a = _with_synthetic(toy, tmp_path / "a", rotate_labels=False)
    b = _with_synthetic(toy, tmp_path / "b", rotate_labels=True)
    cfg = {**CFG, "epochs": 2, "classes": ("Atelectasis", "Cardiomegaly", "Effusion", "No Finding")}

    def weights(manifest, name, **kw):
        s = train_classifier(ClassifyConfig(**cfg, **kw), manifest, tmp_path / name)
        assert s["synthetic_train_rows"] == 12
        return torch.load(tmp_path / name / "last.pt", weights_only=False)["model"]

    def same(x, y):
        return all(torch.equal(x[k], y[k]) for k in x)

    # the wrong labels of the synthetic rows change the model at weight 1 and at 0.5 ...
    assert not same(weights(a, "a1"), weights(b, "b1"))
    assert not same(weights(a, "a5", synthetic_weight=0.5), weights(b, "b5", synthetic_weight=0.5))
    # ... and not at all at weight 0 (the images still pass through, so BN statistics are the same)
    assert same(weights(a, "a0", synthetic_weight=0.0), weights(b, "b0", synthetic_weight=0.0))
    with pytest.raises(UsageError, match="synthetic_weight"):
        ClassifyConfig(synthetic_weight=-1.0)

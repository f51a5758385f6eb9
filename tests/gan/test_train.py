import json

import pytest
import torch

import gan.train as gan_train
from gan import checkpoint as ckpt
from gan.train import GanConfig, train_gan
from training.dataset_view import load_view
from manifests.errors import UsageError

CFG = dict(size=32, batch_size=8, z_dim=16, g_ch=8, d_ch=8, quiet=True, device="cpu", threads=1)


def _losses(out):
    return [json.loads(ln) for ln in (out / "losses.jsonl").read_text().splitlines()]


def test_trains_on_train_rows_only_and_writes_everything(toy32, tmp_path, monkeypatch):
    seen = []
    real_decode = gan_train.decode_images

    def spy(paths, size):
        seen.extend(paths)
        return real_decode(paths, size)

    monkeypatch.setattr(gan_train, "decode_images", spy)
    out = tmp_path / "gan"
    s = train_gan(GanConfig(epochs=2, **CFG), toy32, out)
    view = load_view(toy32)
    train_paths = {p for p, sp in zip(view.paths, view.splits) if sp == "train"}
    assert seen and set(seen) <= train_paths and len(seen) == s["train_rows"]
    assert (out / "checkpoint.pt").exists() and (out / "stats.json").exists()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    rows = _losses(out)
    assert len(rows) == s["steps"] and all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in rows)
    ck = ckpt.load(out)
    assert ck["epoch"] == 2 and ck["step"] == s["steps"]
    assert set(ck) >= {"g", "d", "g_ema", "opt_g", "opt_d", "rng", "scaler_g", "scaler_d"}


def test_discriminator_learns(toy32, tmp_path):
    """Hinge D loss starts near 2 (D outputs ~0) and falls as D separates real from fake."""
    out = tmp_path / "gan"
    train_gan(GanConfig(epochs=6, lr_d=1e-3, **CFG), toy32, out)
    rows = _losses(out)
    first, last = rows[0]["d_loss"], sum(r["d_loss"] for r in rows[-5:]) / 5
    assert 1.5 < first < 2.5
    assert last < first - 0.2
    assert sum(r["d_real"] - r["d_fake"] for r in rows[-5:]) > 0     # real scored above fake


def test_collapse_remedies_train_and_log(toy32, tmp_path):
    """AC-GAN head, minibatch std and mode seeking together: finite losses, each term logged."""
    out = tmp_path / "gan"
    train_gan(GanConfig(epochs=2, aux_weight=1.0, mbstd=True, ms_weight=1.0, **CFG), toy32, out)
    rows = _losses(out)
    assert all({"cls_d", "cls_g", "ms"} <= set(r) for r in rows)
    assert all(torch.isfinite(torch.tensor([r["cls_d"], r["cls_g"], r["ms"], r["g_loss"]])).all() for r in rows)
    ck = ckpt.load(out)
    assert any(k.startswith("aux.") for k in ck["d"]) and any(k.startswith("mbstd.") for k in ck["d"])


def test_resume_is_exact(toy32, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train_gan(GanConfig(epochs=2, **CFG), toy32, a)
    train_gan(GanConfig(epochs=1, **CFG), toy32, b)
    with pytest.raises(UsageError, match="--resume"):
        train_gan(GanConfig(epochs=2, **CFG), toy32, b)
    with pytest.raises(UsageError, match="settings differ"):
        train_gan(GanConfig(epochs=2, resume=True, **{**CFG, "g_ch": 4}), toy32, b)
    train_gan(GanConfig(epochs=2, resume=True, **CFG), toy32, b)
    ca, cb = ckpt.load(a), ckpt.load(b)
    for part in ("g", "d", "g_ema"):
        for k in ca[part]:
            assert torch.equal(ca[part][k], cb[part][k]), f"{part}.{k} differs after resume"
    assert ca["step"] == cb["step"]
    assert _losses(a) == _losses(b)


def test_rejects_bad_settings(toy32, tmp_path):
    with pytest.raises(UsageError, match="did you mean 'resnet'"):
        GanConfig(arch="resnt")
    with pytest.raises(UsageError):
        GanConfig(size=48)
    with pytest.raises(UsageError, match="batch size"):
        train_gan(GanConfig(epochs=1, **{**CFG, "batch_size": 500}), toy32, tmp_path / "x")


def test_lecam_loss_values():
    from gan.train import lecam_loss

    anchors = torch.tensor([0.5, -0.5])      # (moving average on real, on fake)
    # D already within the anchors: real not above a_fake, fake not below a_real -> 0
    assert lecam_loss(torch.tensor([-0.6, -1.0]), torch.tensor([0.7, 0.5]), anchors) == 0
    got = lecam_loss(torch.tensor([1.5, -0.5]), torch.tensor([-0.5, 1.0]), anchors)
    assert torch.isclose(got, torch.tensor((2.0**2 + 0.0) / 2 + (1.0**2 + 0.0) / 2))


def test_lecam_anchors_follow_d_and_resume_exactly(toy32, tmp_path):
    cfg = {**CFG, "lecam_weight": 0.3, "lecam_decay": 0.9}
    a, b = tmp_path / "a", tmp_path / "b"
    train_gan(GanConfig(epochs=2, **cfg), toy32, a)
    rows = _losses(a)
    assert all("lecam" in r and r["lecam"] >= 0 for r in rows)
    ema = torch.zeros(2, dtype=torch.float64)
    for r in rows:     # the anchors are the moving averages of the logged mean D outputs
        ema = 0.9 * ema + 0.1 * torch.tensor([r["d_real"], r["d_fake"]], dtype=torch.float64)
    anchors = ckpt.load(a)["lecam_anchors"]
    assert torch.allclose(anchors.double(), ema, atol=1e-5) and ema.abs().sum() > 0
    train_gan(GanConfig(epochs=1, **cfg), toy32, b)
    train_gan(GanConfig(epochs=2, resume=True, **cfg), toy32, b)
    assert torch.equal(ckpt.load(b)["lecam_anchors"], anchors)
    assert _losses(a) == _losses(b)
    with pytest.raises(UsageError, match="lecam"):
        GanConfig(lecam_weight=-1.0)

"""GAN checkpoints: one ``torch.save`` dict, written atomically, identified by its sha256 prefix.

Keys: ``format``, ``config`` (the :class:`gan.train.GanConfig` as a dict), ``classes``, ``epoch``,
``step``, ``g``, ``d``, ``g_ema``, ``opt_g``, ``opt_d``, ``scaler_g``, ``scaler_d``, ``rng``
(torch / numpy / python states), ``class_counts`` (train rows per class), ``manifest``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from manifests.errors import UsageError
from manifests.io import atomic_path

FORMAT = "medharvest-gan/1"
CHECKPOINT_NAME = "checkpoint.pt"


def save(obj: dict, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path, ".pt") as tmp:
        torch.save(obj, tmp)
    return path


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint (a file, or a training directory holding ``checkpoint.pt``)."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT_NAME
    if not p.is_file():
        raise UsageError(f"GAN checkpoint '{path}' does not exist")
    obj = torch.load(p, map_location=map_location, weights_only=False)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise UsageError(f"'{p}' is not a medharvest GAN checkpoint")
    return obj


def checkpoint_file(path: str | Path) -> Path:
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() else p


def checkpoint_id(path: str | Path) -> str:
    """First 16 hex digits of the checkpoint file's sha256: the ``generator`` of synthetic records."""
    h = hashlib.sha256()
    with open(checkpoint_file(path), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """The EMA generator of a checkpoint, in eval mode, and the checkpoint dict (without weights)."""
    from gan.registry import build

    ck = load(path, map_location=device)
    cfg = ck["config"]
    g, _ = build(cfg["arch"], n_classes=len(ck["classes"]), size=cfg["size"], z_dim=cfg["z_dim"],
                 g_ch=cfg["g_ch"], d_ch=cfg["d_ch"])
    g.load_state_dict(ck["g_ema"])
    g.to(device).eval()
    meta = {k: v for k, v in ck.items() if k not in ("g", "d", "g_ema", "opt_g", "opt_d", "scaler_g", "scaler_d", "rng")}
    return g, meta

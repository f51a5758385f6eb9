"""DiffAugment (Zhao et al., NeurIPS 2020): differentiable augmentation of real AND fake images.

Applied to every image the discriminator sees, it stops D from memorising a small training set.
Policies (comma-separated): ``brightness``, ``translation``, ``cutout``. ``strength`` scales the
brightness range, the translation fraction (1/8 at strength 1) and the cutout size (1/2).
Random numbers come from torch's global RNG (seeded per epoch by the trainer, so runs resume exactly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("brightness", "translation", "cutout")


def brightness(x: torch.Tensor, strength: float) -> torch.Tensor:
    return x + (torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5) * strength


def translation(x: torch.Tensor, strength: float) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * 0.125 * strength + 0.5), int(w * 0.125 * strength + 0.5)
    if sh == 0 and sw == 0:
        return x
    tx = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, strength: float) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * 0.5 * min(strength, 1.5) + 0.5), int(w * 0.5 * min(strength, 1.5) + 0.5)
    if ch == 0 or cw == 0:
        return x
    ox = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, device=x.device, dtype=x.dtype)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


_FUNCS = {"brightness": brightness, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    from manifests.registry import lookup

    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for n in names:
        lookup(_FUNCS, n, "DiffAugment policy")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], strength: float = 1.0) -> torch.Tensor:
    """x: (B, C, H, W) in [-1, 1] -> same shape, augmented (identity when policy is empty or strength 0)."""
    if strength <= 0:
        return x
    for name in policy:
        x = _FUNCS[name](x, strength)
    return x

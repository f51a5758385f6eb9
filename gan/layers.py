"""Building blocks shared by the GAN architectures: conditional batch norm, spectral-normed layers."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine, then a per-class gain and bias (Miyato & Koyama 2018).

    x: (B, C, H, W), y: (B,) int64 -> (B, C, H, W). Gains start at 1, biases at 0.
    """

    def __init__(self, channels: int, *, n_classes: int):
        super().__init__()
        assert channels > 0 and n_classes > 0, "channels and n_classes must be positive"
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(n_classes, channels)
        self.bias = nn.Embedding(n_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)
        return h * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


def sn_conv(cin: int, cout: int, k: int = 3, stride: int = 1, pad: int | None = None) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad))


def sn_linear(cin: int, cout: int) -> nn.Module:
    return spectral_norm(nn.Linear(cin, cout))


def sn_embedding(n: int, dim: int) -> nn.Module:
    return spectral_norm(nn.Embedding(n, dim))


def n_upsamplings(size: int, base: int = 4) -> int:
    """How many 2x up/down-samplings link ``base`` and ``size`` (size must be base * 2**k)."""
    k = 0
    s = base
    while s < size:
        s *= 2
        k += 1
    assert s == size, f"image size {size} must be {base} * 2**k"
    return k


def minibatch_std(h: torch.Tensor, *, max_group: int = 4) -> torch.Tensor:
    """Minibatch standard deviation (Karras et al. 2018): (B, C, H, W) -> (B, 1, H, W).

    Rows are grouped in CONTIGUOUS groups (g rows each) and every row gets its group's mean feature
    std, so a discriminator can see when a batch lacks variety (mode collapse). The group size is the
    largest of 4, 2, 1 with ``B % (2 g) == 0``: a batch made of real rows followed by as many fake
    rows then never mixes the two in one group, and a fake-only batch of the same half size uses the
    same g.
    """
    b = h.shape[0]
    g = next((k for k in (max_group, 2, 1) if k <= max_group and b % (2 * k) == 0), 1)
    if g == 1:
        return torch.zeros_like(h[:, :1])
    s = h.float().view(b // g, g, *h.shape[1:]).std(dim=1, unbiased=False).mean(dim=(1, 2, 3))   # (B/g,)
    return s.repeat_interleave(g)[:, None, None, None].expand(b, 1, *h.shape[2:]).to(h.dtype)


class MinibatchStd(nn.Module):
    """Append the minibatch-std channel, then mix it back to ``channels`` with a 3x3 SN conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.mix = sn_conv(channels + 1, channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([h, minibatch_std(h)], dim=1))

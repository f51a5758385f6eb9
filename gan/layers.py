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

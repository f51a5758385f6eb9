"""Class-conditional DCGAN (Radford et al. 2016) with conditional BN and a projection discriminator.

The cheapest architecture here (no residual paths): the default for CPU budgets.
Generator: z (B, z_dim), y (B,) -> (B, 1, size, size) in [-1, 1]:
  linear -> (B, 8ch, 4, 4) -> k x [CBN-ReLU-ConvTranspose4x4/2] (channels halve, floor ch) -> CBN-ReLU-conv3-tanh.
Discriminator: (B, 1, size, size), y -> (logit (B,), class logits (B, C) or None):
  k x [SN conv4x4/2 - LeakyReLU(0.2)] (ch, 2ch, 4ch, 8ch cap) -> sum-pool -> linear + <embed(y), h>;
  with ``aux=True`` also an SN linear class head on h (AC-GAN term, see gan.train).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan.layers import ConditionalBatchNorm2d, MinibatchStd, n_upsamplings, sn_conv, sn_embedding, sn_linear


class Generator(nn.Module):
    def __init__(self, *, n_classes: int, size: int = 64, z_dim: int = 64, ch: int = 32, channels: int = 1):
        super().__init__()
        assert n_classes >= 1 and z_dim >= 1 and ch >= 4, "n_classes, z_dim >= 1, ch >= 4"
        k = n_upsamplings(size)
        assert k >= 2, "size must be at least 16"
        self.n_classes, self.size, self.z_dim, self.channels = n_classes, size, z_dim, channels
        widths = [max(ch, ch * 8 // 2**i) for i in range(k + 1)]
        self.w0 = widths[0]
        self.fc = nn.Linear(z_dim, widths[0] * 16)
        self.bns = nn.ModuleList(ConditionalBatchNorm2d(widths[i], n_classes=n_classes) for i in range(k + 1))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i], widths[i + 1], 4, 2, 1) for i in range(k))
        self.out = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert z.shape[1] == self.z_dim and y.shape == (z.shape[0],)
        h = self.fc(z).view(z.shape[0], self.w0, 4, 4)
        for bn, up in zip(self.bns, self.ups):
            h = up(F.relu(bn(h, y)))
        return torch.tanh(self.out(F.relu(self.bns[-1](h, y))))


class Discriminator(nn.Module):
    def __init__(self, *, n_classes: int, size: int = 64, ch: int = 32, channels: int = 1, aux: bool = False,
                 mbstd: bool = False):
        super().__init__()
        assert n_classes >= 1 and ch >= 4
        k = n_upsamplings(size)
        widths = [channels] + [ch * min(2**i, 8) for i in range(k)]
        layers: list[nn.Module] = []
        for i in range(k):
            layers += [sn_conv(widths[i], widths[i + 1], 4, 2, 1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.linear = sn_linear(widths[-1], 1)
        self.embed = sn_embedding(n_classes, widths[-1])
        # AC-GAN class head (optional). Not spectral-normed: with SN its logits stay ~0.2 wide on these
        # features, the cross-entropy sits at ln(C) and gives G no class signal.
        self.aux = nn.Linear(widths[-1], n_classes) if aux else None
        self.mbstd = MinibatchStd(widths[-1]) if mbstd else None   # lets D see a batch without variety
        self.n_classes, self.size = n_classes, size

    def features(self, x: torch.Tensor) -> torch.Tensor:   # (B,1,S,S) -> (B, widths[-1])
        h = self.body(x)
        if self.mbstd is not None:
            h = F.leaky_relu(self.mbstd(h), 0.2)
        return h.sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (real/fake logit (B,), class logits (B, n_classes) or None without the aux head)."""
        assert x.shape[-1] == self.size and y.shape == (x.shape[0],)
        h = self.features(x)
        adv = self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)
        return adv, (self.aux(h) if self.aux is not None else None)

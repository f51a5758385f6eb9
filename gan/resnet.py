"""Class-conditional ResNet GAN (SNGAN / BigGAN-style, small): CBN generator, projection discriminator.

Generator: z (B, z_dim), y (B,) -> image (B, 1, size, size) in [-1, 1].
  linear -> (B, 8ch, 4, 4) -> k up-blocks [CBN-ReLU-up-conv3-CBN-ReLU-conv3 + up-conv1 shortcut]
  (channels halve every block, floor ch) -> BN-ReLU-conv3-tanh. size = 4 * 2**k.
Discriminator: image (B, 1, size, size), y (B,) -> (logit (B,), class logits (B, C) or None).
  k down-blocks with spectral norm (channels ch, 2ch, 4ch, 8ch, capped at 8ch) -> ReLU -> sum-pool
  -> linear(h) + <embed(y), h>  (projection discriminator, Miyato & Koyama 2018); with ``aux=True``
  also an SN linear class head on h (AC-GAN term, see gan.train).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan.layers import ConditionalBatchNorm2d, MinibatchStd, n_upsamplings, sn_conv, sn_embedding, sn_linear


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, *, n_classes: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, n_classes=n_classes)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.bn2 = ConditionalBatchNorm2d(cout, n_classes=n_classes)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:   # (B,cin,H,W) -> (B,cout,2H,2W)
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2.0)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2.0))


class Generator(nn.Module):
    def __init__(self, *, n_classes: int, size: int = 64, z_dim: int = 64, ch: int = 32, channels: int = 1):
        super().__init__()
        assert n_classes >= 1 and z_dim >= 1 and ch >= 4, "n_classes, z_dim >= 1, ch >= 4"
        k = n_upsamplings(size)
        assert k >= 2, "size must be at least 16"
        self.n_classes, self.size, self.z_dim, self.channels = n_classes, size, z_dim, channels
        widths = [max(ch, ch * 8 // 2**i) for i in range(k + 1)]
        self.fc = nn.Linear(z_dim, widths[0] * 16)
        self.blocks = nn.ModuleList(GBlock(widths[i], widths[i + 1], n_classes=n_classes) for i in range(k))
        self.bn = nn.BatchNorm2d(widths[-1])
        self.out = nn.Conv2d(widths[-1], channels, 3, 1, 1)
        self.w0 = widths[0]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert z.shape[1] == self.z_dim and y.shape == (z.shape[0],)
        h = self.fc(z).view(z.shape[0], self.w0, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, *, first: bool):
        super().__init__()
        self.first = first
        self.conv1 = sn_conv(cin, cout)
        self.conv2 = sn_conv(cout, cout)
        self.skip = sn_conv(cin, cout, 1, pad=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,cin,H,W) -> (B,cout,H/2,W/2)
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        s = self.skip(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.skip(x), 2)
        return h + s


class Discriminator(nn.Module):
    def __init__(self, *, n_classes: int, size: int = 64, ch: int = 32, channels: int = 1, aux: bool = False,
                 mbstd: bool = False):
        super().__init__()
        assert n_classes >= 1 and ch >= 4
        k = n_upsamplings(size)
        widths = [channels] + [ch * min(2**i, 8) for i in range(k)]
        self.blocks = nn.Sequential(*(DBlock(widths[i], widths[i + 1], first=i == 0) for i in range(k)))
        self.linear = sn_linear(widths[-1], 1)
        self.embed = sn_embedding(n_classes, widths[-1])
        # AC-GAN class head (optional). Not spectral-normed: with SN its logits stay ~0.2 wide on these
        # features, the cross-entropy sits at ln(C) and gives G no class signal.
        self.aux = nn.Linear(widths[-1], n_classes) if aux else None
        self.mbstd = MinibatchStd(widths[-1]) if mbstd else None   # lets D see a batch without variety
        self.n_classes, self.size = n_classes, size

    def features(self, x: torch.Tensor) -> torch.Tensor:   # (B,1,S,S) -> (B, 8ch)
        h = self.blocks(x)
        if self.mbstd is not None:
            h = self.mbstd(F.relu(h))
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (real/fake logit (B,), class logits (B, n_classes) or None without the aux head)."""
        assert x.shape[-1] == self.size and y.shape == (x.shape[0],)
        h = self.features(x)
        adv = self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)
        return adv, (self.aux(h) if self.aux is not None else None)

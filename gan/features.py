"""The feature extractor behind FID / KID / precision-recall: a FIXED RANDOM-INIT conv net.

``medharvest-randconv64-v2``: 4 conv layers (3x3, stride 2; 32-64-128-128 channels; ReLU), global
average pooling -> 128 features, weights drawn from ``torch.manual_seed(0)`` with He (Kaiming
normal, fan-in) init so activations keep their scale through depth, biases 0, never trained. It works offline (no Inception download) and is identical everywhere;
random conv features are known to track image statistics (Naeem et al. 2020 use them as a sanity
baseline), but numbers are NOT comparable to Inception-based FID in the literature.
Input: float (B, 1, H, W) in [0, 1]  (torchmetrics' ``normalize=True`` convention).
"""

from __future__ import annotations

import torch
from torch import nn

NAME = "medharvest-randconv64-v2"


class RandomConvFeatures(nn.Module):
    num_features = 128

    def __init__(self, *, seed: int = 0):
        super().__init__()
        state = torch.get_rng_state()
        torch.manual_seed(seed)
        chans = [1, 32, 64, 128, 128]
        layers: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            conv = nn.Conv2d(a, b, 3, 2, 1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]
        self.body = nn.Sequential(*layers)
        torch.set_rng_state(state)
        self.name = NAME
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B,1,H,W) [0,1] -> (B,128)
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        return self.body((x - 0.5) / 0.25).mean(dim=(2, 3)).double()

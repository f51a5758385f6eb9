"""A ``torch.utils.data.Dataset`` over a manifest view, plus the classic augmentation policy.

:class:`ManifestDataset` reads each PNG once and keeps the decoded ``uint8`` array in memory
(``cache=True``; small sets), returning ``(x, y)``: x float (1, S, S) standardised, y int64 (single-
label) or float (C,) multi-hot. Augmentation happens on whole batches (:func:`classic`, declared as
a policy in :mod:`classify.policies`), with torch's global RNG, seeded per epoch by the trainer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from training.dataset_view import View, decode_image

MEAN, STD = 0.5, 0.25


class ManifestDataset(Dataset):
    def __init__(self, view: View, *, size: int = 64, cache: bool = True):
        self.view, self.size, self.cache = view, size, cache
        self._arrays: list[np.ndarray | None] = [None] * len(view)

    def __len__(self) -> int:
        return len(self.view)

    def array(self, i: int) -> np.ndarray:
        a = self._arrays[i]
        if a is None:
            a = decode_image(self.view.paths[i], self.size)
            if self.cache:
                self._arrays[i] = a
        return a

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.array(i)).float().div_(255.0).sub_(MEAN).div_(STD).unsqueeze(0)
        return x, torch.as_tensor(self.view.targets[i])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every item stacked: ((N, 1, S, S), (N,) or (N, C)) — for evaluation."""
        xs = [self[i] for i in range(len(self))]
        if not xs:
            return torch.empty(0, 1, self.size, self.size), torch.as_tensor(self.view.targets)
        return torch.stack([x for x, _ in xs]), torch.as_tensor(self.view.targets)


def classic(x: torch.Tensor) -> torch.Tensor:
    """Random affine (rotate +-10 deg, shift +-6 %, scale 0.9-1.1) and brightness/contrast +-10 %.

    No flips: chest anatomy is not mirror-symmetric. x: (B, 1, S, S) standardised -> same shape.
    """
    b = x.shape[0]
    ang = (torch.rand(b) - 0.5) * 2 * math.radians(10)
    scale = 1.0 + (torch.rand(b) - 0.5) * 0.2
    shift = (torch.rand(b, 2) - 0.5) * 0.12
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    bg = (0.0 - MEAN) / STD
    out = F.grid_sample(x - bg, grid, padding_mode="zeros", align_corners=False) + bg
    gain = 1.0 + (torch.rand(b, 1, 1, 1, device=x.device) - 0.5) * 0.2
    bias = (torch.rand(b, 1, 1, 1, device=x.device) - 0.5) * 0.2 / STD
    return out * gain + bias


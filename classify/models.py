"""Classifier backbones by name, adapted to 1-channel 64-px chest X-rays.

``BACKBONES[name](n_classes=C)`` -> nn.Module mapping (B, 1, S, S) -> logits (B, C), with a
``features(x) -> (B, F)`` method (penultimate layer). torchvision models are built with
``weights=None``: no download, ever; pretrained weights come only from a local file
(:func:`load_pretrained`, 3-channel first convolutions are summed to one channel).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from manifests.errors import UsageError
from manifests.registry import lookup


class SmallCNN(nn.Module):
    """4 x [conv3-BN-ReLU-maxpool2] (16-32-64-128 ch) -> GAP -> dropout -> linear. (B,1,64,64) -> (B,C)."""

    def __init__(self, *, n_classes: int, width: int = 16, dropout: float = 0.2):
        super().__init__()
        assert n_classes >= 2 and width >= 4
        chans = [1, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            layers += [nn.Conv2d(a, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(chans[-1], n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


class TorchvisionNet(nn.Module):
    """A torchvision classifier with its stem swapped to 1 channel and its head to ``n_classes``."""

    def __init__(self, *, name: str, n_classes: int):
        super().__init__()
        import torchvision.models as tvm

        assert n_classes >= 2
        net = getattr(tvm, name)(weights=None)
        if name.startswith("resnet"):
            old = net.conv1
            net.conv1 = nn.Conv2d(1, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
            dim = net.fc.in_features
            net.fc = nn.Identity()
        elif name.startswith("densenet"):
            old = net.features.conv0
            net.features.conv0 = nn.Conv2d(1, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
            dim = net.classifier.in_features
            net.classifier = nn.Identity()
        else:  # pragma: no cover - registry only lists the above
            raise UsageError(f"backbone '{name}' is not adapted")
        self.net = net
        self.head = nn.Linear(dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


BACKBONES = {
    "small-cnn": lambda *, n_classes: SmallCNN(n_classes=n_classes),
    "small-cnn-wide": lambda *, n_classes: SmallCNN(n_classes=n_classes, width=32),
    "resnet18": lambda *, n_classes: TorchvisionNet(name="resnet18", n_classes=n_classes),
    "densenet121": lambda *, n_classes: TorchvisionNet(name="densenet121", n_classes=n_classes),
}


def build(arch: str, *, n_classes: int) -> nn.Module:
    return lookup(BACKBONES, arch, "backbone")(n_classes=n_classes)


def load_pretrained(model: nn.Module, path: str | Path) -> dict:
    """Load a local state dict into ``model`` (head and mismatched layers skipped). Returns what was skipped."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"pretrained weights '{path}' do not exist (only local files are used)")
    state = torch.load(p, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = model.state_dict()
    loaded, skipped = {}, []
    for k, v in state.items():
        target = k if k in own else f"net.{k}" if f"net.{k}" in own else None
        if target is None:
            skipped.append(k)
            continue
        if v.ndim == 4 and own[target].ndim == 4 and v.shape[1] == 3 and own[target].shape[1] == 1:
            v = v.sum(dim=1, keepdim=True)
        if v.shape != own[target].shape:
            skipped.append(k)
            continue
        loaded[target] = v
    model.load_state_dict(loaded, strict=False)
    return {"loaded": len(loaded), "skipped": skipped}

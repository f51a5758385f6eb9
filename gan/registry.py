"""GAN architectures by name: ``ARCHITECTURES[name] = (Generator, Discriminator)``."""

from __future__ import annotations

from torch import nn

from gan import dcgan, resnet
from manifests.registry import lookup

ARCHITECTURES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "dcgan": (dcgan.Generator, dcgan.Discriminator),
    "resnet": (resnet.Generator, resnet.Discriminator),
}


def build(arch: str, *, n_classes: int, size: int, z_dim: int, g_ch: int, d_ch: int,
          aux: bool = False, mbstd: bool = False) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of architecture ``arch`` (UsageError with "did you mean" if unknown).

    ``aux``: give the discriminator an auxiliary class head (AC-GAN term); ``mbstd``: a minibatch-std
    layer before its pooling (against mode collapse).
    """
    g_cls, d_cls = lookup(ARCHITECTURES, arch, "GAN architecture")
    return (g_cls(n_classes=n_classes, size=size, z_dim=z_dim, ch=g_ch),
            d_cls(n_classes=n_classes, size=size, ch=d_ch, aux=aux, mbstd=mbstd))

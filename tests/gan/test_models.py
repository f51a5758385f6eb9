import pytest
import torch

from gan.diffaug import diff_augment, parse_policy
from gan.layers import ConditionalBatchNorm2d
from gan.registry import ARCHITECTURES, build
from manifests.errors import UsageError


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("size", [32, 64])
def test_generator_and_discriminator_shapes(arch, size):
    torch.manual_seed(0)
    g, d = build(arch, n_classes=3, size=size, z_dim=16, g_ch=8, d_ch=8)
    z, y = torch.randn(4, 16), torch.tensor([0, 1, 2, 1])
    x = g(z, y)
    assert x.shape == (4, 1, size, size)
    assert x.min() >= -1 and x.max() <= 1
    out, cls = d(x, y)
    assert out.shape == (4,) and torch.isfinite(out).all() and cls is None
    _, d_aux = build(arch, n_classes=3, size=size, z_dim=16, g_ch=8, d_ch=8, aux=True)
    out, cls = d_aux(x, y)
    assert out.shape == (4,) and cls.shape == (4, 3) and torch.isfinite(cls).all()


def test_class_conditioning_changes_the_output():
    torch.manual_seed(0)
    g, d = build("dcgan", n_classes=3, size=32, z_dim=16, g_ch=8, d_ch=8)
    with torch.no_grad():
        for bn in g.bns:
            bn.gain.weight.normal_()
    g.eval()
    z = torch.randn(1, 16).repeat(2, 1)
    x = g(z, torch.tensor([0, 2]))
    assert not torch.allclose(x[0], x[1])
    x = d.embed.weight  # spectral norm parametrisation is in place
    assert hasattr(d.embed, "parametrizations")


def test_invariants_are_asserted():
    with pytest.raises(AssertionError):
        build("dcgan", n_classes=3, size=48, z_dim=16, g_ch=8, d_ch=8)
    with pytest.raises(AssertionError):
        ConditionalBatchNorm2d(0, n_classes=2)
    with pytest.raises(UsageError, match="did you mean 'dcgan'"):
        build("dcgann", n_classes=3, size=32, z_dim=16, g_ch=8, d_ch=8)


def test_diffaugment_keeps_shape_and_is_identity_at_strength_zero():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    pol = parse_policy("translation,cutout,brightness")
    y = diff_augment(x, pol, 1.0)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(diff_augment(x, pol, 0.0), x)
    # differentiable: gradients flow back to the input
    x.requires_grad_(True)
    diff_augment(x, pol, 1.0).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(UsageError, match="did you mean 'cutout'"):
        parse_policy("cutot")

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


def test_minibatch_std_never_mixes_real_and_fake_rows():
    from gan.layers import minibatch_std

    torch.manual_seed(0)
    real = torch.randn(8, 3, 4, 4)
    fake = torch.ones(8, 3, 4, 4)            # a collapsed generator: every fake alike
    s = minibatch_std(torch.cat([real, fake]))
    assert s.shape == (16, 1, 4, 4)
    assert (s[:8] > 0.3).all() and torch.equal(s[8:], torch.zeros(8, 1, 4, 4))
    assert torch.equal(minibatch_std(fake), torch.zeros(8, 1, 4, 4))     # the G step's fake-only batch
    assert torch.equal(minibatch_std(torch.randn(3, 3, 4, 4)), torch.zeros(3, 1, 4, 4))   # odd batch: no groups


def test_mbstd_discriminator_scores_a_collapsed_batch_differently():
    torch.manual_seed(0)
    _, d = build("dcgan", n_classes=2, size=32, z_dim=8, g_ch=8, d_ch=8, mbstd=True)
    x = torch.rand(8, 1, 32, 32) * 2 - 1
    y = torch.zeros(8, dtype=torch.long)
    varied, _ = d(x, y)
    collapsed, _ = d(x[:1].repeat(8, 1, 1, 1), y)
    assert not torch.allclose(varied[0], collapsed[0])      # same image 0, different company


def test_mode_seeking_loss_penalises_ignoring_z():
    from gan.train import mode_seeking_loss

    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    x = torch.rand(4, 1, 8, 8)
    same = mode_seeking_loss(x, x.clone(), z1, z2)
    diff = mode_seeking_loss(x, torch.rand(4, 1, 8, 8), z1, z2)
    assert same > 1000 * diff

import numpy as np
import pytest
import torch

from classify.data import ManifestDataset
from classify.policies import POLICIES
from classify.metrics import compute
from classify.models import BACKBONES, build, load_pretrained
from training.dataset_view import load_view
from manifests.errors import UsageError


@pytest.mark.parametrize("arch", ["small-cnn", "resnet18", pytest.param("densenet121", marks=pytest.mark.slow)])
def test_backbones_take_one_channel_64px(arch):
    torch.manual_seed(0)
    m = build(arch, n_classes=5).eval()
    x = torch.randn(2, 1, 64, 64)
    assert m(x).shape == (2, 5)
    assert m.features(x).ndim == 2


def test_unknown_backbone_suggests():
    with pytest.raises(UsageError, match="did you mean 'resnet18'"):
        build("resnet19", n_classes=3)
    assert "densenet121" in BACKBONES


def test_pretrained_only_from_a_local_file(tmp_path):
    import torchvision

    src = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pt"
    torch.save(src.state_dict(), path)
    m = build("resnet18", n_classes=3)
    info = load_pretrained(m, path)
    assert info["loaded"] > 50 and "fc.weight" in info["skipped"]
    # the RGB stem was summed to one channel
    assert torch.allclose(m.net.conv1.weight, src.conv1.weight.sum(dim=1, keepdim=True))
    with pytest.raises(UsageError, match="only local files"):
        load_pretrained(m, tmp_path / "missing.pt")


def test_dataset_reads_and_caches(toy):
    view = load_view(toy).split("train")
    ds = ManifestDataset(view)
    x, y = ds[0]
    assert x.shape == (1, 64, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert ds._arrays[0] is not None and ds._arrays[1] is None
    xs, ys = ds.tensors()
    assert xs.shape == (len(view), 1, 64, 64) and torch.equal(ys, torch.as_tensor(view.targets))
    torch.manual_seed(0)
    aug = POLICIES["classic"].apply(xs[:4])
    assert aug.shape == (4, 1, 64, 64) and not torch.equal(aug, xs[:4])


def test_metrics_known_values():
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    targets = np.array([0, 0, 1, 1])
    m = compute(scores, targets, ["a", "b"], multi_label=False)
    assert m["per_class"]["b"]["auroc"] == 1.0
    assert m["per_class"]["b"]["recall"] == 0.5 and m["per_class"]["b"]["precision"] == 1.0
    assert m["per_class"]["a"]["support"] == 2
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["balanced_accuracy"] == 0.75
    # a class absent from the set has an undefined AUROC, left out of the macro average
    m = compute(scores[:2], targets[:2], ["a", "b"], multi_label=False)
    assert m["per_class"]["a"]["auroc"] is None and m["macro"]["auroc"] is None


def test_policies_declared_once_and_parsed_with_did_you_mean():
    from classify import policies
    from manifests.errors import UsageError

    assert list(policies.POLICIES) == ["none", "classic", "oversample", "gan"]
    assert policies.parse("gan:/x/checkpoint.pt") == (policies.POLICIES["gan"], "/x/checkpoint.pt")
    assert policies.parse("classic") == (policies.POLICIES["classic"], None)
    for bad, msg in (("clasic", "did you mean 'classic'"), ("gan", "gan:CHECKPOINT"), ("classic:x", "takes no argument")):
        with pytest.raises(UsageError, match=msg):
            policies.parse(bad)
    with pytest.raises(UsageError, match="gan:CHECKPOINT"):
        policies.trainer_policy("gan")
    with pytest.raises(ValueError, match="declared twice"):
        policies.policy(policies.Policy("none", "again"))

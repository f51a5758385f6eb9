import pytest
import torch

from tests.gan.toyset import make_manifest


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 64-px toy manifest (4 classes, imbalanced, patient-grouped split), shared by a module."""
    return make_manifest(tmp_path_factory.mktemp("toy"), counts=(14, 14, 14, 40), size=64)

import pytest
import torch

from tests.gan.toyset import make_manifest


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture
def toy32(tmp_path):
    """A 32-px toy manifest (4 classes, imbalanced, patient-grouped split)."""
    return make_manifest(tmp_path / "toy", counts=(12, 12, 12, 36), size=32)

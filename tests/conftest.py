"""Session-wide test helpers: where ``../shared`` is, and skipping cleanly without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MEDHARVEST_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test with the reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (the shared data/fixtures folder beside the repository); not present here")
    return p


@pytest.fixture
def shared():
    """``shared("data", "nih_cxr14_64px")`` -> Path, skipping when absent."""
    return shared_path


@pytest.fixture(scope="session")
def ray_executor():
    """A real local Ray cluster (2 CPUs), started once per test session and shared by the Ray tests.

    Yields a started :class:`manifests.executor.RayExecutor`; Ray is shut down at the session's end.
    """
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # not importorskip: Ray must be first imported by ray_init
        pytest.skip("needs ray (uv sync)")
    from manifests.executor import RayExecutor

    ex = RayExecutor(num_cpus=2).start()
    try:
        yield ex
    finally:
        ex._owns = True
        ex.close()

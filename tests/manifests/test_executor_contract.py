"""Contract over the executor registry (``manifests.executor.EXECUTORS``): each declared executor
starts, runs a module-level function on every payload exactly once (results by index), describes
itself for run.json and closes. A new executor is tested the moment it is declared."""

from __future__ import annotations

import pytest

from manifests.executor import EXECUTORS


def square(x: int) -> int:
    return x * x


@pytest.fixture(params=sorted(EXECUTORS))
def executor(request):
    name = request.param
    if name == "ray":  # the session's real 2-CPU Ray (one cluster per process)
        request.applymarker(pytest.mark.slow)
        yield request.getfixturevalue("ray_executor")
        return
    with EXECUTORS[name]() as ex:
        yield ex


def test_executor_contract(executor):
    cls = type(executor)
    assert EXECUTORS[cls.name] is cls and isinstance(cls.distributed, bool)
    got = dict(executor.map(square, list(range(12))))
    assert got == {i: i * i for i in range(12)}
    assert list(executor.map(square, [])) == []
    d = executor.describe()
    assert d["executor"] == cls.name and d["cpus"] >= 1
    assert cls.__doc__ and cls.__doc__.strip()

"""The executor seam: where a stage's per-record work runs (``--executor local|ray``).

A stage (``crawl``, ``curate run``) is written once. It calls the same per-record functions under
every executor; the executor only decides *where* they run:

* ``local`` (the default, today's behaviour): the stage's own thread / process pool on this
  machine. :class:`LocalExecutor` is a marker; the stages keep their tuned local paths.
* ``ray``: tasks and actors on a Ray cluster. ``--ray-address auto`` joins a running cluster
  (``ray start --head`` ...), ``--ray-address ray://host:10001`` or ``host:6379`` joins that one,
  no address starts a local Ray for the run (``num_cpus`` = this machine's cores) and stops it
  afterwards. Every node must see the same data directory (a shared file system: NFS, Lustre,
  a FUSE-mounted bucket): stages communicate through files, and so do their tasks.

Executors are declared once, with :func:`register` on the class (``name`` attribute); the CLI's
``--executor`` choices and the "did you mean" come from :data:`EXECUTORS` via
:func:`manifests.registry.lookup`. This module lives in the hub because both data spokes
(``crawlers/``, ``curation/``) use it and may not import each other; ``ray`` is imported only
inside :meth:`RayExecutor.start`, so importing the hub never loads Ray.

Public API: :func:`make_executor` (name, address -> started executor, a context manager),
:class:`Executor` (``name``, ``distributed``, ``map``, ``cpus``, ``close``), :data:`EXECUTORS`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from manifests.errors import UsageError
from manifests.registry import lookup

EXECUTORS: dict[str, type["Executor"]] = {}


def register(cls: type["Executor"]) -> type["Executor"]:
    """Class decorator: declare an executor under its ``name`` (duplicates are a bug)."""
    if cls.name in EXECUTORS:
        raise ValueError(f"executor {cls.name!r} declared twice ({EXECUTORS[cls.name].__qualname__}, {cls.__qualname__})")
    EXECUTORS[cls.name] = cls
    return cls


class Executor:
    """Where per-record work runs. Subclasses set ``name`` and ``distributed``."""

    name: ClassVar[str]
    #: True: work may run on other processes/machines, so it goes through the stage's sharded,
    #: file-backed path (crawl shards, curate tasks); False: the stage's in-process path.
    distributed: ClassVar[bool] = False

    def __init__(self, address: str | None = None):
        self.address = address

    def start(self) -> "Executor":
        return self

    def close(self) -> None:
        """Release what :meth:`start` acquired (a local Ray is shut down; a joined cluster is left)."""

    def cpus(self) -> int:
        """CPUs this executor can run tasks on (the cluster's total for Ray)."""
        return os.cpu_count() or 1

    def describe(self) -> dict:
        """For ``run.json``: which engine ran the stage, and where."""
        return {"executor": self.name, "address": self.address, "cpus": self.cpus()}

    def map(self, fn: Callable[[Any], Any], payloads: Iterable[Any], *, max_retries: int = 3,
            num_cpus: float = 1) -> Iterator[tuple[int, Any]]:
        """``fn(payload)`` for each payload, yielded as ``(index, result)`` as they finish.

        ``fn`` must be a module-level function (it is pickled to the workers) and idempotent:
        a worker that dies mid-call is retried up to ``max_retries`` times.
        """
        for i, p in enumerate(payloads):
            yield i, fn(p)

    def __enter__(self) -> "Executor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


@register
class LocalExecutor(Executor):
    """This machine, the stage's own pools (today's behaviour)."""

    name = "local"
    distributed = False


_OWN_TOKEN: list[bool] = []   # ray_init put a run token in os.environ (removed again by RayExecutor.close)


def ray_init(address: str | None = None, *, num_cpus: int | None = None):
    """Start (``address=None``) or join a Ray cluster; returns the ``ray`` module.

    ``RAY_ENABLE_UV_RUN_RUNTIME_ENV=0``: under ``uv run`` Ray would otherwise build a fresh
    virtual environment for its workers (tens of seconds); the workers use this interpreter and
    this checkout instead (``PYTHONPATH`` carries the repository root to them).
    """
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None and "ray" not in sys.modules and not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} & set(os.environ):
        # a Ray of our own: token authentication with a fresh token for this run, held in the
        # environment of this process and its children (Ray would otherwise write one to ~/.ray);
        # set before Ray is imported, which reads its config once
        import secrets

        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        _OWN_TOKEN.append(True)
    import ray  # lazy: the hub never loads Ray at import

    if ray.is_initialized():
        return ray
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
                        "OMP_THREAD_LIMIT": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}}
    kw: dict = {"runtime_env": env, "logging_level": "WARNING", "log_to_driver": False}
    if address is None:
        kw.update(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False)
    else:
        kw["address"] = address
    try:
        ray.init(**kw)
    except ConnectionError as err:
        raise UsageError(f"cannot join the Ray cluster at '{address}': {err}") from err
    return ray


@register
class RayExecutor(Executor):
    """A Ray cluster: tasks for per-record work, actors for loaded models and shared limits."""

    name = "ray"
    distributed = True

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None):
        super().__init__(address)
        self.num_cpus = num_cpus
        self._owns = False
        self.ray = None

    def start(self) -> "RayExecutor":
        running = "ray" in sys.modules and sys.modules["ray"].is_initialized()
        self._owns = not running and self.address is None
        self.ray = ray_init(self.address, num_cpus=self.num_cpus)
        return self

    def close(self) -> None:
        if self._owns and self.ray is not None:
            self.ray.shutdown()
            if _OWN_TOKEN:
                os.environ.pop("RAY_AUTH_TOKEN", None)
                os.environ.pop("RAY_AUTH_MODE", None)
                _OWN_TOKEN.clear()
        self._owns = False

    def cpus(self) -> int:
        return int(self.ray.cluster_resources().get("CPU", 1)) if self.ray is not None else 1

    def map(self, fn, payloads, *, max_retries: int = 3, num_cpus: float = 1):
        ray = self.ray
        remote = ray.remote(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)(fn)
        refs = [remote.remote(p) for p in payloads]
        index = {r: i for i, r in enumerate(refs)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                yield index[r], ray.get(r)


def make_executor(name: str = "local", address: str | None = None, **kw) -> Executor:
    """The executor called ``name`` (not yet started: use it as a context manager).

    Usage errors (unknown name, an address for the local executor) raise :class:`UsageError`
    before any work.
    """
    cls = lookup(EXECUTORS, name, "executor")
    if address is not None and not cls.distributed:
        raise UsageError(f"--ray-address needs --executor ray (got --executor {name})")
    return cls(address, **kw)

"""Where ``curate run``'s per-record work runs: this machine's process pool, or a Ray cluster.

Both engines run the same two functions: :func:`curation.jobs.image_job` (decode -> identifier
scan + redaction -> quality -> content-addressed PNG + pHash, one raw item per call) and
:func:`curation.records.text_columns` (identifier scrub + NER labels, a batch of texts per call).
The pipeline (:mod:`curation.pipeline`) talks to them through three calls per chunk of items:
``start_images(jobs)``, ``texts(texts)`` (both start work and return a handle) and
``image_results(handle, jobs)`` / ``handle()`` (wait for it).

* :class:`LocalEngine` (``--executor local``): a ``ProcessPoolExecutor`` for images, text in the
  main process, overlapping the pool; a decoder that crashes its process is re-run alone.
* :class:`RayEngine` (``--executor ray``): one Ray task per image (``max_retries``: a killed worker's
  item runs again elsewhere; a decoder that kills every worker it lands on becomes that record's
  error), text in a pool of :class:`TextWorker` actors that load spaCy once and restart if killed.
  Burned-in-text OCR runs inside the image task, not in a separate actor: the redaction has to
  happen before the PNG is stored (un-redacted pixels never leave the worker), and Tesseract is an
  executable started per call, so there is no model to keep loaded. Chunks are ``4 x cluster CPUs``
  items, so every core stays busy between the driver's journal writes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from curation.jobs import image_job, worker_init
from curation.records import text_columns

if TYPE_CHECKING:
    from curation.config import CurateConfig
    from manifests.executor import Executor


def crashed(job: dict) -> dict:
    """The image columns of an item whose decoder took its process down."""
    return {"status": "error", "error": f"{Path(job['path']).name}: the decoder crashed its process (malformed file?)",
            "quality_flags": ["unreadable"], "phi_flags": [], "seconds": {}}


class LocalEngine:
    """Images in a restartable process pool (``workers > 1``) or inline; text in this process."""

    def __init__(self, cfg: CurateConfig):
        self.cfg = cfg
        self.chunk = cfg.chunk
        self.workers = cfg.workers
        self.ex = ProcessPoolExecutor(max_workers=cfg.workers, initializer=worker_init) if cfg.workers > 1 else None

    def start_images(self, jobs: list[dict]):
        return self.ex.map(image_job, jobs) if self.ex is not None else map(image_job, jobs)

    def image_results(self, handle, jobs: list[dict]) -> list[dict]:
        try:
            return list(handle)
        except BrokenProcessPool:
            # a native decoder crashed a worker: redo this chunk one file per process, so only the
            # culprit fails, then carry on with a fresh pool
            results = [self._isolated(job) for job in jobs]
            self.ex.shutdown(wait=False, cancel_futures=True)
            self.ex = ProcessPoolExecutor(max_workers=self.workers, initializer=worker_init)
            return results

    @staticmethod
    def _isolated(job: dict) -> dict:
        with ProcessPoolExecutor(max_workers=1, initializer=worker_init) as ex:
            try:
                return ex.submit(image_job, job).result()
            except BrokenProcessPool:
                return crashed(job)

    def texts(self, texts: list[str | None]) -> Callable[[], list[dict]]:
        out = text_columns(texts, self.cfg)
        return lambda: out

    def close(self) -> None:
        if self.ex is not None:
            self.ex.shutdown()


class TextWorker:
    """A Ray actor: scrub + NER with the spaCy pipeline loaded once, in ``__init__``."""

    def __init__(self, cfg: CurateConfig):
        self.cfg = cfg
        text_columns(["FINDINGS: The lungs are clear. IMPRESSION: No acute disease."], cfg)  # loads spaCy now

    def text_columns(self, texts: list[str | None]) -> list[dict]:
        return text_columns(texts, self.cfg)


class RayEngine:
    """Image tasks + a pool of text actors on the executor's Ray cluster."""

    def __init__(self, cfg: CurateConfig, executor: Executor, *, text_actors: int | None = None):
        ray = self.ray = executor.ray
        self.cfg = cfg
        cpus = executor.cpus()
        self.chunk = max(cfg.chunk, 4 * cpus)
        # image tasks hold a CPU each; text actors hold none (they are busy only between chunks'
        # image work, and a CPU reserved for them would idle an image slot on small clusters)
        self.task = ray.remote(num_cpus=1, max_retries=3)(image_job)
        actor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(TextWorker)
        n = text_actors or max(1, min(4, cpus // 8))
        self.actors = [actor.remote(cfg) for _ in range(n)] if cfg.labels else []
        self._next = 0

    def start_images(self, jobs: list[dict]):
        return [self.task.remote(job) for job in jobs]

    def image_results(self, handle, jobs: list[dict]) -> list[dict]:
        from ray.exceptions import OutOfMemoryError, WorkerCrashedError

        out = []
        for ref, job in zip(handle, jobs):
            try:
                out.append(self.ray.get(ref))
            except (WorkerCrashedError, OutOfMemoryError):  # every retry's worker died on this item
                out.append(crashed(job))
        return out

    def texts(self, texts: list[str | None]) -> Callable[[], list[dict]]:
        if not self.actors or not any(texts):
            out = text_columns(texts, self.cfg)  # nothing to label: no round trip
            return lambda: out
        actor = self.actors[self._next % len(self.actors)]
        self._next += 1
        ref = actor.text_columns.remote(texts)
        return lambda: self.ray.get(ref)

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []


def make_engine(cfg: CurateConfig, executor: Executor | None):
    """The engine for ``executor`` (None or a local executor: :class:`LocalEngine`)."""
    if executor is None or not executor.distributed:
        return LocalEngine(cfg)
    return RayEngine(cfg, executor)

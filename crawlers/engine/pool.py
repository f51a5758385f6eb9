"""Many small files over several processes: one interpreter's GIL caps a thread pool near ~1,000 files/s.

``fetch_in_processes`` forks ``processes`` workers, each with one :class:`Downloader` and one
long-lived thread pool (so keep-alive connections survive across chunks); per-host concurrency and
rate are divided between them. Used by ``Downloader.fetch_many(..., processes=N)``.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor


# No import of crawlers.engine.download here (it imports this module): the parent's class is passed in,
# and the requests / results (FileRequest / FileResult) are only handed through.
_CHILD: tuple[object, ThreadPoolExecutor] | None = None


def _child_init(cls: type, kwargs: dict, workers: int) -> None:
    global _CHILD  # one downloader + one long-lived thread pool per worker process (keep-alive survives chunks)
    _CHILD = (cls(**kwargs), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medharvest-dl"))


def _child_chunk(chunk: list) -> list:
    downloader, pool = _CHILD
    return list(pool.map(downloader.fetch, chunk))


def fetch_in_processes(parent, reqs: list, workers: int, processes: int) -> Iterator[tuple]:
    """``(FileRequest, FileResult)`` pairs for ``reqs``, fetched by copies of the ``Downloader`` ``parent``."""
    kwargs = dict(parent._init_kwargs)
    kwargs["per_host"] = max(1, parent.per_host // processes)
    if kwargs.get("rate"):
        kwargs["rate"] = kwargs["rate"] / processes
    size = max(1, workers * 8)
    chunks = [reqs[i:i + size] for i in range(0, len(reqs), size)]
    with mp.get_context("fork").Pool(processes, initializer=_child_init, initargs=(type(parent), kwargs, workers)) as pool:
        for chunk, results in zip(chunks, pool.imap(_child_chunk, chunks)):
            yield from zip(chunk, results)

"""Moving a response body into the ``.part`` file and the hashes (used by :mod:`crawlers.engine.download`).

Two paths:

* :func:`pump_ring` (big bodies, ``Content-Encoding: identity``): the socket is read with ``readinto``
  into a small ring of preallocated buffers (no bytes object per chunk, no copy in Python); the
  receiving thread writes each filled buffer to the file and hands it to one hashing thread per
  algorithm (hashlib releases the GIL on large buffers, so hashing overlaps the next receive). A
  buffer is refilled only once every hasher is done with it.
* :class:`Sink` + :func:`chunks` (small bodies, or an encoded body that urllib3 must decode): bytes
  chunks from ``read1``/``iter_content``, consumed inline (or on helper threads for a big encoded body).

Both keep the on-disk ``.part`` a prefix of the body: a cut connection loses at most one chunk, and
the caller resumes with ``Range`` from the ``.part`` size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import requests

from crawlers.engine.integrity import Hashes

Check = Callable[[bytes], None]   # sees the first <= 512 bytes once; raises to reject the body


def raw_body(resp: requests.Response):
    """The ``http.client`` response under urllib3 when the body can be read as is, else None."""
    enc = (resp.headers.get("Content-Encoding") or "identity").strip().lower()
    if enc != "identity":
        return None  # urllib3 must decode it (same bytes as before for the checksum)
    fp = getattr(resp.raw, "_fp", None)
    if fp is None or not hasattr(fp, "readinto") or getattr(resp.raw, "_decoded_buffer", None):
        return None  # urllib3 already holds body bytes: read through it
    return fp


class _Hasher(threading.Thread):
    def __init__(self, update: Callable[[memoryview], None]):
        super().__init__(daemon=True, name="medharvest-hash")
        self.update = update
        self.todo: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()

    def run(self) -> None:
        while (view := self.todo.get()) is not None:
            self.update(view)
            self.done.put(None)


def _write_all(fh, view: memoryview) -> None:
    while view:
        view = view[fh.write(view):]


def pump_ring(fp, fh, hashes: Hashes, *, chunk: int = 4 << 20, slots: int = 4, check: Check | None = None) -> int:
    """Read ``fp`` to its end into ``fh`` (unbuffered file) and ``hashes``; returns the bytes moved.

    A network error propagates after every completed ``readinto`` has been written (and hashed): the
    ``.part`` stays a prefix of the body, short of at most one chunk.
    """
    hashers = [_Hasher(hashes.sha256.update)] + ([_Hasher(hashes.extra.update)] if hashes.extra is not None else [])
    for h in hashers:
        h.start()
    views = [memoryview(bytearray(chunk)) for _ in range(slots)]
    moved = seq = 0
    try:
        while True:
            if seq >= slots:  # hashers work in order: this frees the oldest slot, the one reused now
                for h in hashers:
                    h.done.get()
            view = views[seq % slots]
            n = fp.readinto(view)
            if not n:
                break
            filled = view[:n]
            if check is not None:
                check(bytes(filled[:512]))
                check = None
            _write_all(fh, filled)
            for h in hashers:
                h.todo.put(filled)
            moved += n
            seq += 1
    finally:
        for h in hashers:
            h.todo.put(None)
        for h in hashers:
            h.join()
    return moved


class Sink:
    """Where bytes chunks go: the ``.part`` file and the hashes; on helper threads when ``threaded``."""

    def __init__(self, fh, hashes: Hashes, *, threaded: bool):
        self.consumers = [fh.write, hashes.sha256.update] + ([hashes.extra.update] if hashes.extra is not None else [])
        self.threaded = threaded
        self.queues: list[queue.Queue] = []
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def __enter__(self) -> "Sink":
        if self.threaded:
            for fn in self.consumers:
                q: queue.Queue = queue.Queue(maxsize=16)
                t = threading.Thread(target=self._drain, args=(q, fn), daemon=True)
                t.start()
                self.queues.append(q)
                self.threads.append(t)
        return self

    def _drain(self, q: queue.Queue, fn) -> None:
        while (chunk := q.get()) is not None:
            if not self.errors:
                try:
                    fn(chunk)
                except OSError as err:  # disk full, I/O error: reported by __exit__
                    self.errors.append(err)

    def put(self, chunk: bytes) -> None:
        if not self.threaded:
            for fn in self.consumers:
                fn(chunk)
            return
        for q in self.queues:
            q.put(chunk)

    def __exit__(self, *exc) -> None:
        for q in self.queues:
            q.put(None)
        for t in self.threads:
            t.join()
        if self.errors and exc[0] is None:
            raise self.errors[0]


def chunks(resp: requests.Response, size: int, *, whole: bool = False) -> Iterator[bytes]:
    """Body chunks as they arrive (``read1``): a connection cut mid-body loses no received byte.

    ``whole``: full ``size`` chunks (fewer, larger writes; a cut loses < ``size`` bytes).
    """
    raw = resp.raw
    if whole or not hasattr(raw, "read1"):
        yield from resp.iter_content(size)
        return
    while chunk := raw.read1(size):
        yield chunk

"""Deadlines for response bodies: a total time per file and a minimum rate, whatever the read sizes.

A server that trickles one byte a second never trips a socket read timeout (each read returns
something), and a ``readinto`` of a big buffer blocks until it is full. One watchdog thread per
:class:`~crawlers.engine.download.Downloader` looks at every body in flight twice a second; a body
past its file's deadline, or that moved fewer than ``min_rate * window`` bytes in the last
``window`` seconds, has its socket shut down, so the blocked read returns at once and the
downloader reports why (``Transfer.reason``). Used by :mod:`crawlers.engine.download`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque


class Transfer:
    """One body being received: bytes moved so far (``n``, updated by the receiving thread)."""

    __slots__ = ("sock", "deadline", "started", "n", "samples", "reason")

    def __init__(self, sock, deadline: float | None):
        self.sock = sock
        self.deadline = deadline
        self.started = time.monotonic()
        self.n = 0
        self.samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self.reason: str | None = None


def socket_of(resp) -> socket.socket | None:
    """The socket under a streamed ``requests`` response (urllib3 2.x), or None."""
    raw = getattr(resp, "raw", None)
    conn = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        fp = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(fp, "_sock", None)
    return sock


class Watchdog:
    def __init__(self, *, min_rate: float | None, window: float, interval: float = 0.5):
        self.min_rate = min_rate
        self.window = window
        self.interval = min(interval, max(0.05, window / 4))
        self._active: set[Transfer] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, resp, deadline: float | None) -> Transfer:
        t = Transfer(socket_of(resp), deadline)
        with self._lock:
            self._active.add(t)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="medharvest-watchdog")
                self._thread.start()
        return t

    def done(self, t: Transfer) -> None:
        with self._lock:
            self._active.discard(t)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                active = list(self._active)
            now = time.monotonic()
            for t in active:
                reason = self._verdict(t, now)
                if reason and t.reason is None:
                    t.reason = reason
                    self._cut(t)

    def _verdict(self, t: Transfer, now: float) -> str | None:
        if t.deadline is not None and now >= t.deadline:
            return f"download deadline passed after {t.n} bytes of this attempt"
        t.samples.append((now, t.n))
        while len(t.samples) > 1 and t.samples[1][0] <= now - self.window:
            t.samples.popleft()
        then, n_then = t.samples[0]
        if self.min_rate and now - then >= self.window and (t.n - n_then) < self.min_rate * (now - then):
            rate = (t.n - n_then) / (now - then)
            return f"too slow: {rate:.0f} B/s over the last {now - then:.0f} s (minimum {self.min_rate:.0f} B/s)"
        return None

    @staticmethod
    def _cut(t: Transfer) -> None:
        if t.sock is None:
            return
        try:
            t.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

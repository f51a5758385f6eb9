"""Politeness: per-host concurrency and rate limits, backoff with jitter, ``Retry-After``.

:class:`HostGate` is shared by every thread of one :class:`~crawlers.engine.download.Downloader`:
``with gate.slot(host): ...`` waits for a free connection slot of that host *and* a token of its
bucket; ``gate.pause(host, seconds)`` (after a 429/503 with ``Retry-After``) holds every thread
of that host back, not only the one that was told to wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timezone
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d] where d = min(cap, base * 2**attempt)."""
    d = min(cap, base * (2 ** attempt))
    return (rng or random).uniform(d / 2, d)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``rate=None`` means unlimited."""

    def __init__(self, rate: float | None, burst: float = 1.0):
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> None:
        if not self.rate:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                wait = (1.0 - self.tokens) / self.rate
            time.sleep(wait)


class _Host:
    def __init__(self, concurrency: int, rate: float | None, burst: float):
        self.sem = threading.BoundedSemaphore(concurrency)
        self.bucket = TokenBucket(rate, burst)
        self.not_before = 0.0


class HostGate:
    """Per-host connection slots + token bucket + shared pause (see module docstring)."""

    def __init__(self, *, concurrency: int = 8, rate: float | None = None, burst: float | None = None,
                 overrides: dict[str, tuple[int, float | None]] | None = None):
        self.concurrency = concurrency
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate or 1.0)
        self.overrides = dict(overrides or {})
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def _host(self, host: str) -> _Host:
        with self._lock:
            h = self._hosts.get(host)
            if h is None:
                conc, rate = self.overrides.get(host, (self.concurrency, self.rate))
                h = self._hosts[host] = _Host(conc, rate, self.burst)
            return h

    def pause(self, host: str, seconds: float) -> None:
        """Hold back every request to ``host`` for ``seconds`` (a server asked us to wait)."""
        h = self._host(host)
        with self._lock:
            h.not_before = max(h.not_before, time.monotonic() + seconds)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        h = self._host(host)
        with h.sem:
            while (wait := h.not_before - time.monotonic()) > 0:
                time.sleep(wait)
            h.bucket.take()
            yield

"""Per-host politeness across a Ray cluster: one actor holds every host's slots, bucket and pause.

:class:`HostLimiter` is an async Ray actor (one per crawl run). Each shard task's
:class:`~crawlers.engine.download.Downloader` gets a :class:`ClusterGate` in place of its
process-local :class:`~crawlers.engine.politeness.HostGate`, with the same two calls
(``with gate.slot(host): ...`` and ``gate.pause(host, seconds)``), so a source's
``download_per_host`` and ``download_rate`` hold for the whole cluster, not per worker, and a
``Retry-After`` one worker was told holds every worker back.

A slot is a lease: a worker killed while holding one (``kill -9`` mid-request) would otherwise
leak it forever, so a lease not released within ``lease_s`` (longer than the downloader's
connect + read timeouts) expires. Cost: one actor round trip per request start (~1 ms on one
machine), the actor serialises slot bookkeeping for all hosts (fine up to some thousands of
request starts per second; past that, one actor per host).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager


class HostLimiter:
    """The actor's state: per host, leased connection slots, a token bucket and a pause."""

    def __init__(self, *, concurrency: int, rate: float | None, burst: float | None = None,
                 lease_s: float = 180.0, poll_s: float = 1.0):
        self.concurrency = max(1, int(concurrency))
        self.rate = rate or None
        self.burst = burst if burst is not None else max(1.0, rate or 1.0)
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.leases: dict[str, dict[int, float]] = {}
        self.tokens: dict[str, tuple[float, float]] = {}   # host -> (tokens, stamp)
        self.not_before: dict[str, float] = {}
        self.conds: dict[str, asyncio.Condition] = {}
        self.ids = itertools.count(1)
        self.granted = 0

    def _take_token(self, host: str) -> float:
        """0 if a token was taken, else seconds until one is due."""
        if not self.rate:
            return 0.0
        now = time.monotonic()
        tokens, stamp = self.tokens.get(host, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self.tokens[host] = (tokens - 1.0, now)
            return 0.0
        self.tokens[host] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _cond(self, host: str) -> asyncio.Condition:
        cond = self.conds.get(host)
        if cond is None:
            cond = self.conds[host] = asyncio.Condition()
        return cond

    async def _wait(self, cond: asyncio.Condition, seconds: float) -> None:
        """Sleep up to ``seconds``, woken early by a release (the condition's lock is held around it)."""
        try:
            await asyncio.wait_for(cond.wait(), timeout=max(seconds, 0.0))
        except (TimeoutError, asyncio.TimeoutError):
            pass

    async def acquire(self, host: str) -> int:
        """Wait for a free slot of ``host``, its pause to end and a token; returns the lease id."""
        leases = self.leases.setdefault(host, {})
        cond = self._cond(host)
        async with cond:
            while True:
                now = time.monotonic()
                for lid in [lid for lid, exp in leases.items() if exp < now]:
                    del leases[lid]  # a worker died holding it
                wait = self.not_before.get(host, 0.0) - now
                if wait > 0:
                    await self._wait(cond, wait)  # the lock is free meanwhile: releases go through
                    continue
                if len(leases) >= self.concurrency:
                    await self._wait(cond, self.poll_s)  # a release wakes us; the timeout catches expiries
                    continue
                wait = self._take_token(host)
                if wait > 0:
                    await self._wait(cond, wait)
                    continue
                lid = next(self.ids)
                leases[lid] = now + self.lease_s
                self.granted += 1
                return lid

    async def release(self, host: str, lease: int) -> None:
        cond = self._cond(host)
        async with cond:
            self.leases.get(host, {}).pop(lease, None)
            cond.notify()

    def pause(self, host: str, seconds: float) -> None:
        self.not_before[host] = max(self.not_before.get(host, 0.0), time.monotonic() + seconds)

    def stats(self) -> dict:
        return {"granted": self.granted, "held": {h: len(v) for h, v in self.leases.items() if v}}


def start_limiter(ray, *, concurrency: int, rate: float | None):
    """A fresh :class:`HostLimiter` actor (no CPU reserved; it only sleeps and counts)."""
    actor = ray.remote(num_cpus=0, max_concurrency=10_000, max_restarts=-1, max_task_retries=-1)(HostLimiter)
    return actor.remote(concurrency=concurrency, rate=rate)


class ClusterGate:
    """The downloader-side face of a :class:`HostLimiter` actor (``HostGate``'s interface)."""

    def __init__(self, actor):
        self.actor = actor

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        import ray

        lease = ray.get(self.actor.acquire.remote(host))
        try:
            yield
        finally:
            self.actor.release.remote(host, lease)

    def pause(self, host: str, seconds: float) -> None:
        self.actor.pause.remote(host, seconds)

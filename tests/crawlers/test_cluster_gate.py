"""HostLimiter (the cluster-wide politeness actor's state), driven directly with asyncio: slots,
wake-up on release, leases that expire when their holder died, pauses and the token bucket.
(The same class as a real Ray actor across workers: tests/crawlers/test_ray_crawl.py.)"""

from __future__ import annotations

import asyncio
import time

from crawlers.engine.cluster_gate import HostLimiter


def run(coro):
    return asyncio.run(coro)


def test_slots_are_per_host_and_a_release_wakes_a_waiter():
    async def main():
        lim = HostLimiter(concurrency=1, rate=None, poll_s=5.0)
        a = await lim.acquire("h")
        await asyncio.wait_for(lim.acquire("other"), 1.0)  # another host is not held back
        waiter = asyncio.ensure_future(lim.acquire("h"))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        t = time.monotonic()
        await lim.release("h", a)
        await asyncio.wait_for(waiter, 1.0)
        return time.monotonic() - t

    assert run(main()) < 0.5  # woken by the release, not by the 5 s poll


def test_a_lease_whose_holder_died_expires():
    async def main():
        lim = HostLimiter(concurrency=1, rate=None, lease_s=0.2, poll_s=0.02)
        await lim.acquire("h")  # never released: its worker was killed
        t = time.monotonic()
        await asyncio.wait_for(lim.acquire("h"), 2.0)
        return time.monotonic() - t

    assert 0.15 <= run(main()) < 1.5


def test_pause_and_rate():
    async def main():
        lim = HostLimiter(concurrency=8, rate=20.0, burst=1.0)
        lim.pause("h", 0.2)
        t = time.monotonic()
        for _ in range(5):
            await lim.release("h", await lim.acquire("h"))
        return time.monotonic() - t, lim.stats()

    took, stats = run(main())
    assert took >= 0.2 + 4 / 20 * 0.9  # the pause, then 1 token now + 4 at 20/s
    assert stats["granted"] == 5 and stats["held"] == {}

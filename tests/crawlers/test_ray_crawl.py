"""``crawl --executor ray`` on the session's real 2-CPU Ray: discovery on the driver, downloads in
shard tasks. The raw store equals the local executor's; a shard worker killed mid-crawl loses and
duplicates nothing; per-host limits hold across all workers (one HostLimiter actor)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from crawlers.engine import crawl
from manifests.raw import RawStore
from tests.crawlers.openi_replay import openi_site
from tests.ray_helpers import Killer

pytestmark = pytest.mark.slow
OPTS = {"page_size": 25}


def _items(out) -> dict[str, dict]:
    return {sid: {k: v for k, v in vars(it).items() if k != "retrieved_at"} for sid, it in RawStore(out, "openi").latest().items()}


def _lines(out) -> list[str]:
    return [json.loads(ln)["source_id"] for ln in (out / "raw" / "openi" / "items.jsonl").read_text().splitlines() if ln]


def test_sharded_crawl_equals_local(ray_executor, tmp_path):
    with openi_site(36) as (srv, _):
        a = crawl("openi", tmp_path / "local", base_url=srv.url(), options=OPTS)
        b = crawl("openi", tmp_path / "ray", base_url=srv.url(), options=OPTS, executor=ray_executor, shard_size=10)
    assert a["status"] == b["status"] == {"ok": 36}
    assert b["run"]["shards"] == 4 and b["run"]["files_ok"] == 36 and b["executor"]["executor"] == "ray"
    assert _items(tmp_path / "ray") == _items(tmp_path / "local")
    for it in _items(tmp_path / "ray").values():
        assert (tmp_path / "ray" / "raw" / "openi" / it["file"]).read_bytes() == \
            (tmp_path / "local" / "raw" / "openi" / it["file"]).read_bytes()
    root = tmp_path / "ray" / "raw" / "openi"
    assert not (root / "shards").exists() and not (root / ".plan").exists()
    assert sorted(_lines(tmp_path / "ray")) == sorted(_items(tmp_path / "ray"))  # one line per item
    with openi_site(36) as (srv, site):  # a re-run finds everything done: no shard has work
        c = crawl("openi", tmp_path / "ray", base_url=srv.url(), options=OPTS, executor=ray_executor, shard_size=10)
        assert not site.stamps
    assert c["status"] == {"ok": 36} and c["run"]["shards"] == 0


def test_killed_shard_worker_loses_and_duplicates_nothing(ray_executor, tmp_path):
    with openi_site(30, delay=0.04) as (srv, site):
        killer = Killer("fetch_shard", when=lambda: len(site.stamps) >= 4)
        killer.start()
        s = crawl("openi", tmp_path, base_url=srv.url(), options=OPTS, executor=ray_executor, shard_size=8, workers=2)
        killer.stop.set()
        hits = Counter(srv.hits)
    assert killer.killed is not None, "no shard task was running to kill"
    assert s["status"] == {"ok": 30}
    lines = _lines(tmp_path)
    assert len(lines) == len(set(lines)) == 30
    images = [p for p in hits if p.startswith("/imgs/")]
    assert len(images) == 30  # every image was asked for (some twice: the killed shard's in-flight ones)
    files = list((tmp_path / "raw" / "openi" / "files").rglob("*"))
    assert not [f for f in files if f.name.endswith(".part")]


def test_per_host_limits_hold_across_the_cluster(ray_executor, tmp_path):
    """4 shards x 4 threads on 2 workers, but the host allows 2 connections and 8 requests/s in all."""
    rate, per_host, n = 8.0, 2, 24
    settings = {"MEDHARVEST_DOWNLOADER": {"rate": rate, "per_host": per_host, "backoff": 0.02}}
    with openi_site(n, delay=0.05) as (srv, site):
        s = crawl("openi", tmp_path, base_url=srv.url(), options=OPTS, executor=ray_executor, shard_size=6, workers=4,
                  scrapy_settings=settings)
        stamps = list(site.stamps)
    assert s["status"] == {"ok": n} and s["gate"]["granted"] == n
    assert max(inflight for _, inflight in stamps) <= per_host
    times = sorted(t for t, _ in stamps)
    burst = rate  # HostLimiter's default bucket: one second's worth
    for i, t0 in enumerate(times):  # any window of w seconds sees at most burst + rate * w request starts
        for j in range(i, len(times)):  # (+2: arrival jitter between the actor's grant and the server's clock)
            assert j - i + 1 <= burst + rate * (times[j] - t0) + 2
    assert times[-1] - times[0] >= (n - burst) / rate * 0.9

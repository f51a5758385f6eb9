"""The distributed crawl's file protocol without a cluster: raw-store shards, the merge (atomic,
idempotent: a driver killed mid-merge re-runs it), the plan key that decides whether a re-run
reuses a finished discovery, and the shard cut."""

from __future__ import annotations

import json

from crawlers.engine.shards import PLAN_DIR, SHARDS_DIR, merge_shards, plan_ready, shard_ids
from manifests.io import write_json_atomic
from manifests.raw import RawItem, RawStore


def _shard(store: RawStore, name: str, ids: list[str], status: str = "ok") -> None:
    sh = store.shard(name).open()
    for sid in ids:
        sh.append(RawItem(source=store.source, source_id=sid, file=f"files/{sid}.png", status=status))
    sh.close({"shard": name, "node": f"node-{name}", "run": {"files_ok": len(ids), "seconds": 1.5}})


def test_shards_share_files_but_not_items(tmp_path):
    store = RawStore(tmp_path, "openi")
    sh = store.shard("00003")
    assert sh.files_dir == store.files_dir and sh.root == store.root
    assert sh.items_path == store.root / SHARDS_DIR / "00003" / "items.jsonl"
    assert shard_ids(0, 5) == [] and shard_ids(11, 5) == ["00000", "00001", "00002"]


def test_merge_is_atomic_idempotent_and_last_line_wins(tmp_path):
    store = RawStore(tmp_path, "openi")
    with store as s:  # an earlier run left one error item and one ok item
        s.append(RawItem(source="openi", source_id="a", status="error", error="HTTP 503"))
        s.append(RawItem(source="openi", source_id="z"))
    _shard(store, "00000", ["a", "b"])
    _shard(store, "00001", ["c"])
    (store.root / PLAN_DIR).mkdir()
    summary = merge_shards(store, ["00000", "00001"], {"executor": {"executor": "ray"}})
    assert summary["status"] == {"ok": 4} and summary["run"] == {"files_ok": 3, "shards": 2, "nodes": 2}
    lines = [json.loads(ln)["source_id"] for ln in store.items_path.read_text().splitlines()]
    assert sorted(lines) == ["a", "b", "c", "z"]  # "a" once, its ok line from the shard
    assert not (store.root / SHARDS_DIR).exists() and not (store.root / PLAN_DIR).exists()
    first = store.items_path.read_text()
    # a driver killed after the items were merged but before the shards were removed: merge again
    _shard(store, "00000", ["a", "b"])
    merge_shards(store, ["00000"], {})
    assert sorted(json.loads(ln)["source_id"] for ln in store.items_path.read_text().splitlines()) == ["a", "b", "c", "z"]
    assert len(store.items_path.read_text().splitlines()) == len(first.splitlines())


def test_a_plan_is_reused_only_for_the_same_crawl(tmp_path):
    store = RawStore(tmp_path, "openi")
    key = {"base_url": "http://127.0.0.1:1", "query": None, "limit": 10, "options": "{}"}
    assert not plan_ready(store, key)
    write_json_atomic(store.root / PLAN_DIR / "plan.json", {"key": key, "items": 10})
    assert plan_ready(store, key)
    assert not plan_ready(store, {**key, "limit": 20})  # another limit: discover again


def test_a_body_the_spider_holds_travels_through_the_plan(tmp_path):
    """Sources that fetch small images themselves hand the pipeline bytes; the plan is JSON, so they
    travel base64-encoded and the shard task writes them like the local pipeline does."""
    from collections import Counter

    from crawlers.engine.download import Downloader
    from crawlers.engine.pipeline import fetch_item
    from crawlers.engine.shards import _plan_item

    body = bytes(range(256)) * 4
    item = {"source_id": "x1", "fields": {}, "downloads": [{"url": "http://127.0.0.1:9/a.png", "path": "a.png", "body": body}]}
    line = json.loads(json.dumps(_plan_item(item)))
    assert "body" not in line["downloads"][0] and item["downloads"][0]["body"] == body  # the spider's item untouched
    store = RawStore(tmp_path, "web")
    raw = fetch_item(Downloader(), store, line, Counter())
    assert raw.status == "ok" and (store.root / raw.file).read_bytes() == body

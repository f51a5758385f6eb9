"""A crawl on a cluster: discovery on the driver, downloads as shard tasks, one merge at the end.

Flow (``crawl(..., executor=<ray>)``; layout under ``<out>/raw/<source>/``)::

    1 discovery  the source's spider runs here, on the driver (API paging is cheap), with
                 PlanPipeline instead of the downloading pipeline: every item it yields (ids already
                 ``ok`` in the store skipped) -> .plan/items.jsonl; .plan/plan.json written last
    2 shards     the plan is cut into shards of ``shard_size`` items (shard i = items
                 [i*size, (i+1)*size)); each shard is one task: fetch_item() per item (the same
                 function the one-machine pipeline calls) into the common files/ tree, its RawItems
                 -> shards/<i>/items.jsonl, then shards/<i>/stats.json (the shard's "done" marker)
    3 merge      the driver rewrites items.jsonl atomically (the store's items, then each shard's,
                 last line per id wins: nothing duplicated), writes stats.json (summed shard
                 counts), then removes .plan/ and shards/

Resume: a killed worker's task is retried by Ray and skips what its shard already holds (items
whose file verifies; ``.part`` files continue with HTTP Range). A killed driver re-runs the same
command: a finished plan (``plan.json`` with the same query / limit / options) is reused, shards
with ``stats.json`` are skipped, the rest resume the same way; a merge cut short is redone (it
is idempotent). Politeness: one :class:`~crawlers.engine.cluster_gate.HostLimiter` actor per run
holds the source's per-host slots and rate for every worker.

Every node must see ``<out>`` at the same path (a shared file system). Credentials are not sent
to the tasks: each worker builds the source's spider and reads them from its own environment or
netrc, as a one-machine crawl does.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed

from manifests.io import atomic_path, write_json_atomic
from manifests.raw import RawItem, RawStore

from crawlers.engine.pipeline import first_sight, verified_done

log = logging.getLogger(__name__)
PLAN_DIR = ".plan"
SHARDS_DIR = "shards"


class PlanPipeline:
    """Scrapy item pipeline of the discovery pass: items -> ``.plan/items.jsonl``, no downloads."""

    def __init__(self, out_dir: str, crawler=None):
        self.out_dir = out_dir
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.get("MEDHARVEST_OUT"), crawler)

    def open_spider(self) -> None:
        spider = self.spider = self.crawler.spider
        self.store = RawStore(self.out_dir, spider.name)
        self.done = verified_done(self.store, rehash=bool(spider.options.get("verify")))
        spider.done_ids = set(self.done)
        plan = self.store.root / PLAN_DIR
        plan.mkdir(parents=True, exist_ok=True)
        self.fh = open(plan / "items.jsonl", "w", encoding="utf-8")
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter()

    def process_item(self, item):
        if not isinstance(item, dict) or "source_id" not in item:
            return item
        if not first_sight(item["source_id"], self.done, self.seen, self.counts):
            return item
        self.fh.write(json.dumps(_plan_item(item), ensure_ascii=False, sort_keys=True, default=str) + "\n")
        return item

    def close_spider(self) -> None:
        self.fh.flush()
        self.fh.close()
        if self.spider.fatal_message:
            return  # no plan.json: a re-run discovers again
        job = self.crawler.settings.getdict("MEDHARVEST_PLAN_KEY")
        write_json_atomic(self.store.root / PLAN_DIR / "plan.json",
                          {"key": job, "items": len(self.seen), "counts": dict(self.counts)})


def _plan_item(item: dict) -> dict:
    """The item as a JSON line: a body the spider already holds (bytes) travels as ``body_b64``."""
    downloads = item.get("downloads") or []
    if not any(isinstance(d.get("body"), (bytes, bytearray)) for d in downloads):
        return item
    import base64

    out = []
    for d in downloads:
        d = dict(d)
        body = d.pop("body", None)
        if body is not None:
            d["body_b64"] = base64.b64encode(bytes(body)).decode("ascii")
        out.append(d)
    return {**item, "downloads": out}


@dataclasses.dataclass(frozen=True)
class ShardJob:
    """One shard task's arguments (picklable; no secrets)."""

    source: str
    out_dir: str
    shard: str
    items: list
    spider_kwargs: dict
    downloader: dict        # Downloader keyword overrides (rate, backoff, ...) from the settings
    workers: int
    gate: object = None     # a HostLimiter actor handle, or None (process-local politeness)


def fetch_shard(job: ShardJob) -> dict:
    """Fetch one shard's items into its raw-store shard; returns the shard's stats (idempotent)."""
    from crawlers.engine.cluster_gate import ClusterGate
    from crawlers.engine.download import Downloader
    from crawlers.engine.pipeline import NameClaims, fetch_item
    from crawlers.registry import spider_class

    store = RawStore(job.out_dir, job.source)
    shard = store.shard(job.shard)
    if shard.stats_path.exists():  # finished before (a retried task, or a re-run after the merge was cut short)
        return json.loads(shard.stats_path.read_text(encoding="utf-8"))
    spider = spider_class(job.source)(**job.spider_kwargs)  # credentials from this worker's environment
    kw = {"user_agent": spider.source_user_agent, "per_host": spider.download_per_host, "rate": spider.download_rate}
    kw.update(spider.downloader_kwargs())
    kw.update(job.downloader)
    if kw.get("auth") or kw.get("secret_headers"):
        kw.setdefault("credential_origin", spider.base_url)   # credentials go to the source's origin only
    downloader = Downloader(**kw)
    if job.gate is not None:
        downloader.gate = ClusterGate(job.gate)
    shard.open()
    claims = NameClaims(shard)   # one per shard process (see NameClaims)
    done = verified_done(shard)
    counts: Counter[str] = Counter(skipped_done=len(done))
    t0 = time.perf_counter()
    try:
        todo = [it for it in job.items if it["source_id"] not in done]
        with ThreadPoolExecutor(max_workers=job.workers, thread_name_prefix="medharvest-shard") as pool:
            futures = [pool.submit(fetch_item, downloader, shard, it, counts, provenance_required=spider.provenance_required,
                                   claims=claims) for it in todo]
            for fut in as_completed(futures):
                raw = fut.result()
                shard.append(raw)
    finally:
        downloader.close()
    stats = {k: v for k, v in counts.items()}
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return shard.close({"shard": job.shard, "node": _node_id(), "run": stats})


def _node_id() -> str | None:
    """The Ray node this task runs on (None outside Ray): the merged stats count the nodes used."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except ImportError:
        return None


def shard_ids(n_items: int, size: int) -> list[str]:
    return [f"{i:05d}" for i in range(max(0, -(-n_items // size)))]


def read_plan(store: RawStore) -> list[dict]:
    items = []
    with open(store.root / PLAN_DIR / "items.jsonl", "rb") as fh:
        for raw in fh:
            if raw.endswith(b"\n") and raw.strip():
                items.append(json.loads(raw))
    return items


def plan_ready(store: RawStore, key: dict) -> bool:
    """A finished discovery of the same crawl (same query / limit / options / base URL)."""
    p = store.root / PLAN_DIR / "plan.json"
    if not p.exists():
        return False
    return json.loads(p.read_text(encoding="utf-8")).get("key") == key


def run_shards(executor, store: RawStore, plan: list[dict], *, size: int, spider_kwargs: dict, downloader: dict,
               workers: int, gate) -> list[dict]:
    """Every shard of ``plan`` through ``executor.map`` (finished shards are read, not re-run)."""
    data_dir = str(store.root.parent.parent.resolve())  # workers do not share the driver's cwd
    jobs = [ShardJob(store.source, data_dir, sid, plan[i * size:(i + 1) * size], spider_kwargs,
                     downloader, workers, gate) for i, sid in enumerate(shard_ids(len(plan), size))]
    out: list[dict | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        st = store.shard(job.shard).stats_path
        if st.exists():
            out[i] = json.loads(st.read_text(encoding="utf-8"))
        else:
            todo.append(i)
    for j, summary in executor.map(fetch_shard, [jobs[i] for i in todo], max_retries=5):
        out[todo[j]] = summary
    return out


def merge_shards(store: RawStore, shards: list[str], extra: dict) -> dict:
    """Fold the shards into the store: items.jsonl rewritten atomically (last line per id wins),
    stats.json written, then ``.plan/`` and ``shards/`` removed. Idempotent."""
    latest: dict[str, RawItem] = store.latest()
    run: Counter = Counter()
    nodes: set[str] = set()
    for sid in shards:
        sh = store.shard(sid)
        for it in sh.iter_items():
            latest[it.source_id] = it
        if sh.stats_path.exists():
            st = json.loads(sh.stats_path.read_text(encoding="utf-8"))
            nodes.update([st["node"]] if st.get("node") else [])
            for k, v in st.get("run", {}).items():
                if isinstance(v, (int, float)) and k != "seconds":
                    run[k] += v
    with atomic_path(store.items_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for it in latest.values():
            fh.write(it.to_json() + "\n")
    summary = store.close({"run": {**dict(run), "shards": len(shards), "nodes": len(nodes)}, **extra})
    shutil.rmtree(store.root / SHARDS_DIR, ignore_errors=True)
    shutil.rmtree(store.root / PLAN_DIR, ignore_errors=True)
    return summary


def crawl_sharded(executor, store: RawStore, spider_cls, settings: dict, kwargs: dict, runner, *,
                  shard_size: int, workers: int) -> dict:
    """Steps 1-3 of the module docstring; returns the summary (= stats.json)."""
    from crawlers.engine.cluster_gate import start_limiter

    key = {k: kwargs.get(k) for k in ("base_url", "query", "limit", "options")}
    if not plan_ready(store, key):
        shutil.rmtree(store.root / SHARDS_DIR, ignore_errors=True)  # shards of another plan
        s = dict(settings)
        s["ITEM_PIPELINES"] = {"crawlers.engine.shards.PlanPipeline": 300}
        s["MEDHARVEST_PLAN_KEY"] = key
        fatal = runner(spider_cls, s, kwargs)
        if fatal:
            from manifests.errors import StageError

            raise StageError(f"{store.source}: {fatal}")
    plan = read_plan(store)
    discovery = json.loads((store.root / PLAN_DIR / "plan.json").read_text(encoding="utf-8")).get("counts", {})
    downloader = dict(settings.get("MEDHARVEST_DOWNLOADER") or {})
    spider = spider_cls(**kwargs)
    per_host = downloader.get("per_host", spider.download_per_host)
    rate = downloader.get("rate", spider.download_rate)
    gate = start_limiter(executor.ray, concurrency=per_host, rate=rate)
    try:
        run_shards(executor, store, plan, size=shard_size, spider_kwargs=kwargs, downloader=downloader,
                   workers=workers, gate=gate)
        gate_stats = executor.ray.get(gate.stats.remote())
    finally:
        executor.ray.kill(gate)
    extra = {"executor": executor.describe(), "discovery": discovery, "gate": {"granted": gate_stats["granted"]}}
    return merge_shards(store, shard_ids(len(plan), shard_size), extra)

"""``crawl()``: one source, end to end, into a raw store (see ``crawlers.engine`` for the contract)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

from manifests.errors import StageError, UsageError
from manifests.raw import RawStore

from crawlers import registry
from crawlers.engine.scrapy_run import run_in_process, run_subprocess, settings_for

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CrawlConfig:
    """Settings of one ``medharvest crawl`` (TOML section ``[crawl]``; flags override)."""

    query: str | None = None
    limit: int | None = None
    base_url: str | None = None
    workers: int = 8
    shard_size: int = 500            # --executor ray: items per shard task (the unit of resume)
    options: dict = dataclasses.field(default_factory=dict)   # source-specific (project, manifest, include…)

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")


def crawl(source: str, out_dir: str | os.PathLike, *, query: str | None = None, limit: int | None = None,
          base_url: str | None = None, resume: bool = True, options: dict | None = None, workers: int = 8,
          in_process: bool = False, log_level: str = "WARNING", scrapy_settings: dict | None = None,
          executor=None, shard_size: int = 500) -> dict:
    """Crawl ``source`` into ``<out_dir>/raw/<source>/`` and return the summary from ``stats.json``.

    ``executor`` (a started :mod:`manifests.executor` executor): a distributed one (``ray``) runs
    discovery here and the downloads as shard tasks of ``shard_size`` items on the cluster
    (:mod:`crawlers.engine.shards`); None or ``local`` downloads in this process's thread pool.

    ``resume=False`` starts over (the source's raw store is removed first). Usage problems raise
    :class:`UsageError` before any request; a source-wide failure (e.g. rejected credentials) raises
    :class:`StageError` after the store was closed.
    """
    spider_cls = registry.spider_class(source)
    if shard_size < 1:
        raise UsageError(f"--shard-size must be >= 1, got {shard_size}")
    if limit is not None and limit < 0:
        raise UsageError(f"--limit must be >= 0, got {limit}")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must be an http(s) URL, got {base_url!r}")
    options = dict(options or {})
    registry.check_option_names(spider_cls, options)
    spider_cls.check_options(options, query)  # raises UsageError
    spider_cls.check_base_url((base_url or spider_cls.default_base_url).rstrip("/"), options)  # raises UsageError
    spider_cls.require_contact(options)  # raises UsageError (Wikimedia: no User-Agent contact)
    store = RawStore(out_dir, source)
    if not resume and store.root.exists():
        shutil.rmtree(store.root)
    store.root.mkdir(parents=True, exist_ok=True)
    before = _meta_path(store).read_text(encoding="utf-8") if _meta_path(store).exists() else None
    if before is not None:
        spider_cls.check_resume(json.loads(before), options, query)  # raises UsageError (e.g. a different revision)
    store.stats_path.unlink(missing_ok=True)  # stats.json is the "done" marker: rewritten at the end
    _check_jobdir(store.root / ".jobdir")
    extra = {**spider_cls.scrapy_settings(options), **(scrapy_settings or {})}
    settings = settings_for(spider_cls, out_dir, base_url, workers=workers, log_level=log_level, extra=extra)
    settings["LOG_INSTALL_ROOT_HANDLER"] = not in_process  # the CLI configures logging itself
    settings["USER_AGENT"] = settings["ROBOTSTXT_USER_AGENT"] = spider_cls.user_agent_for(options)
    kwargs = {"base_url": base_url, "query": query, "limit": limit, "options": json.dumps(options)}
    runner = run_in_process if in_process else (lambda cls, s, k: run_subprocess(source, s, k))
    if executor is not None and executor.distributed:
        from crawlers.engine.shards import crawl_sharded

        return crawl_sharded(executor, store, spider_cls, settings, kwargs, runner, shard_size=shard_size, workers=workers)
    fatal = runner(spider_cls, settings, kwargs)
    if fatal:
        raise StageError(f"{source}: {fatal}")
    if not store.stats_path.exists():
        raise StageError(f"{source}: the crawl ended without writing {store.stats_path}")
    return json.loads(store.stats_path.read_text(encoding="utf-8"))


def _check_jobdir(jobdir: Path) -> None:
    """Drop Scrapy's job state when a killed run or a full disk left it unreadable (the raw store, not
    the job state, says what is done: finished items are skipped either way)."""
    import pickle

    if not jobdir.is_dir():
        return
    try:
        state = jobdir / "spider.state"
        if state.exists():
            with open(state, "rb") as fh:
                pickle.load(fh)
        for active in jobdir.rglob("active.json"):
            json.loads(active.read_text(encoding="utf-8"))
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        log.warning("Scrapy's job state in %s is damaged (%s: a full disk or a kill?); starting the listing over "
                    "(finished items are still skipped)", jobdir, type(err).__name__)
        shutil.rmtree(jobdir, ignore_errors=True)


def _meta_path(store: RawStore) -> Path:
    """``source.json``: what a spider recorded about the crawled revision (OpenNeuro snapshot tag…)."""
    return store.root / "source.json"

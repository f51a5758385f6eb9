"""Running a source's spider with the project's polite Scrapy settings.

``settings_for(spider_cls, out_dir, base_url)`` builds the settings; ``run_in_process`` runs one
crawl with :class:`scrapy.crawler.CrawlerProcess` (a Twisted reactor starts once per process: use it
from the CLI); ``run_subprocess`` runs ``python -m crawlers.engine.run_spider`` (tests, library
callers). Politeness applies to remote hosts; a loopback ``base_url`` (replay server, local mirror)
gets no delays.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.retry import get_retry_request

from crawlers.engine.download import RETRY_STATUS
from crawlers.engine.politeness import backoff_delay, parse_retry_after

log = logging.getLogger(__name__)
FATAL_FILE = "fatal.json"


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_for(spider_cls, out_dir: str | os.PathLike, base_url: str | None, *, workers: int = 8,
                 log_level: str = "WARNING", extra: dict | None = None) -> dict:
    local = is_loopback(base_url or spider_cls.default_base_url)
    root = Path(out_dir) / "raw" / spider_cls.name
    s = {
        "BOT_NAME": "medharvest",
        "USER_AGENT": spider_cls.source_user_agent,
        "ROBOTSTXT_OBEY": bool(spider_cls.robots_txt),
        "ROBOTSTXT_USER_AGENT": spider_cls.source_user_agent,
        "AUTOTHROTTLE_ENABLED": not local,
        "AUTOTHROTTLE_START_DELAY": spider_cls.metadata_delay,
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_DELAY": 0 if local else spider_cls.metadata_delay,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 8 if local else 2,
        "DOWNLOAD_TIMEOUT": 120,
        "DOWNLOAD_WARNSIZE": 256 << 20,
        "URLLENGTH_LIMIT": 8192,                 # API batches (50 Commons titles) pass Scrapy's 2,083; servers take 8 KB          # index files (SHA256SUMS of MIMIC-CXR-JPG: ~40 MB) are expected
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 5,
        "RETRY_HTTP_CODES": sorted(RETRY_STATUS),      # the streaming downloader's list: one truth
        "MEDHARVEST_RETRY_BACKOFF": 0.05 if local else 1.0,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawlers.engine.scrapy_run.BackoffRetryMiddleware": 550,
            "crawlers.engine.scrapy_run.SecretHeadersMiddleware": 600,
        },
        "ITEM_PIPELINES": {"crawlers.engine.pipeline.DownloadPipeline": 300},
        "TELNETCONSOLE_ENABLED": False,           # no telnet console
        "REMOTE_CONTROL_ENABLED": False,          # Scrapy 2.19's remote-control HTTP server: off
        "EXTENSIONS": {"scrapy.extensions.telnet.TelnetConsole": None,
                       "scrapy.extensions.remote_control.RemoteControl": None},
        "JOBDIR": str(root / ".jobdir"),
        "LOG_LEVEL": log_level,
        "COOKIES_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "MEDHARVEST_OUT": str(out_dir),
        "MEDHARVEST_WORKERS": workers,
        # loopback (replay server, local mirror): no politeness delays; a body under 1 KiB/s over 1 s is cut
        "MEDHARVEST_DOWNLOADER": {"rate": None, "backoff": 0.02, "max_retry_after": 5.0, "rate_window": 1.0} if local else {},
        "CONCURRENT_ITEMS": max(32, workers * 2),
    }
    s.update(extra or {})
    return s


class BackoffRetryMiddleware:
    """Scrapy retries with exponential backoff + jitter, honouring ``Retry-After`` (seconds or date)."""

    EXCEPTIONS = ("TimeoutError", "ConnectionRefusedError", "ConnectionLost", "ConnectionDone",
                  "ResponseFailed", "TCPTimedOutError", "DNSLookupError", "ConnectError", "ResponseNeverReceived")

    def __init__(self, settings, crawler=None):
        self.crawler = crawler
        self.codes = set(settings.getlist("RETRY_HTTP_CODES"))
        self.times = settings.getint("RETRY_TIMES")
        self.base = settings.getfloat("MEDHARVEST_RETRY_BACKOFF", 1.0)
        self.max_wait = settings.getfloat("MEDHARVEST_MAX_RETRY_AFTER", 300.0)    # one wait; a longer Retry-After: no retry
        self.budget = settings.getfloat("MEDHARVEST_RETRY_BUDGET", 600.0)         # all waits of one request together

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings, crawler)

    async def _retry(self, request, spider, reason, wait):
        retries = request.meta.get("retry_times", 0)
        waited = request.meta.get("retry_waited", 0.0)
        if wait is not None and wait > self.max_wait:
            log.warning("%s: the server asks to retry after %g s (Retry-After), over the %g-s limit: not retried",
                        request.url.split("?")[0], wait, self.max_wait)
            return None
        delay = wait if wait is not None else backoff_delay(retries, base=self.base, cap=60.0, rng=random)
        if waited + delay > self.budget:
            log.warning("%s: retry waits would pass the %g-s budget: not retried", request.url.split("?")[0], self.budget)
            return None
        new = get_retry_request(request, spider=self.crawler.spider, reason=reason, max_retry_times=self.times)
        if new is not None:
            new.meta["retry_waited"] = waited + delay
            await asyncio.sleep(delay)
        return new

    async def process_response(self, request, response, spider=None):
        if request.meta.get("dont_retry") or response.status not in self.codes:
            return response
        wait = parse_retry_after(response.headers.get(b"Retry-After", b"").decode("latin-1") or None)
        new = await self._retry(request, spider, f"HTTP {response.status}", wait)
        return new or response

    async def process_exception(self, request, exception, spider=None):
        if request.meta.get("dont_retry") or type(exception).__name__ not in self.EXCEPTIONS:
            return None
        return await self._retry(request, spider, type(exception).__name__, None)


def run_in_process(spider_cls, settings: dict, spider_kwargs: dict) -> str | None:
    """Run the crawl here; returns the fatal message (or None). The reactor cannot restart afterwards."""
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess(settings)
    if not settings.get("LOG_INSTALL_ROOT_HANDLER", True):  # in the CLI: keep Scrapy at our level
        for name in ("scrapy", "twisted", "py.warnings"):
            logging.getLogger(name).setLevel(settings.get("LOG_LEVEL", "WARNING"))
    crawler = process.create_crawler(spider_cls)
    process.crawl(crawler, **spider_kwargs)
    process.start()
    spider = crawler.spider
    return spider.fatal_message if spider is not None else None


def run_subprocess(source: str, settings: dict, spider_kwargs: dict, *, timeout: float | None = None) -> str | None:
    """Run the crawl in ``python -m crawlers.engine.run_spider`` (secrets travel in the environment only)."""
    root = Path(settings["MEDHARVEST_OUT"]) / "raw" / source
    root.mkdir(parents=True, exist_ok=True)
    fatal = root / FATAL_FILE
    fatal.unlink(missing_ok=True)
    job = {"source": source, "settings": settings, "spider_kwargs": spider_kwargs, "fatal_file": str(fatal)}
    cmd = [sys.executable, "-m", "crawlers.engine.run_spider"]
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, input=json.dumps(job), text=True, env=env, timeout=timeout, capture_output=True)
    for line in reversed((proc.stdout or "").splitlines()):
        if line.startswith("medharvest-fatal: "):   # crawlers.engine.run_spider.FATAL_PREFIX
            return json.loads(line.split(": ", 1)[1])["message"]
    if fatal.exists():
        try:
            return json.loads(fatal.read_text(encoding="utf-8"))["message"]
        except (OSError, ValueError, KeyError):
            pass
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        return f"crawler process exited with {proc.returncode}: {' | '.join(tail)}"
    return None


class SecretHeadersMiddleware:
    """Adds ``spider.secret_headers(url)`` (e.g. Basic auth) to each request and removes them from the
    request again before anything (retry copies, the JOBDIR disk queue) can store them."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request, spider=None):
        sp = self.crawler.spider
        names = tuple(sp.secret_headers(getattr(sp, "base_url", "")))
        # whatever a redirect copied over goes first; then only the exact origin's own credentials
        for k in ("Authorization", *names) if names else ():
            request.headers.pop(k, None)
        for k, v in sp.secret_headers(request.url).items():
            request.headers[k] = v
        return None

    def _strip(self, request, spider):
        for k in self.crawler.spider.secret_headers(request.url):
            request.headers.pop(k, None)

    def process_response(self, request, response, spider=None):
        self._strip(request, spider)
        return response

    def process_exception(self, request, exception, spider=None):
        self._strip(request, spider)
        return None

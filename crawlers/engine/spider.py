"""``SourceSpider``: the base every source's Scrapy spider extends (contract in ``crawlers.engine``)."""

from __future__ import annotations

import json
from collections import Counter

import scrapy
from scrapy.exceptions import CloseSpider

from crawlers.engine.download import DEFAULT_USER_AGENT


class SourceFatal(CloseSpider):
    """The whole source cannot be crawled (bad credentials, missing agreement): stop the run."""


class SourceSpider(scrapy.Spider):
    name = "source"
    default_base_url = ""
    source_user_agent = DEFAULT_USER_AGENT
    download_rate: float | None = 5.0     # streaming downloads, requests/s per host (None: unlimited)
    download_per_host = 4
    metadata_delay = 1.0                  # Scrapy metadata requests (AutoThrottle starts here)
    robots_txt = True                     # obey robots.txt (APIs that publish none: harmless)
    license: str | None = None
    license_url: str | None = None

    def __init_subclass__(cls, **kw):
        # ``user_agent`` / ``download_delay`` as spider attributes are deprecated in Scrapy 2.19 and would
        # override the engine's settings (loopback: no delay); move them to the engine's own names.
        super().__init_subclass__(**kw)
        for old, new in (("download_delay", "metadata_delay"), ("user_agent", "source_user_agent")):
            if old in cls.__dict__:
                setattr(cls, new, cls.__dict__[old])
                delattr(cls, old)

    def __init__(self, *args, base_url: str | None = None, query: str | None = None, limit=None,
                 options: str | dict | None = None, done_ids=None, **kw):
        super().__init__(*args, **kw)
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.query = query
        self.limit = int(limit) if limit not in (None, "", "None") else None
        self.options = json.loads(options) if isinstance(options, str) else dict(options or {})
        self.done_ids = set(done_ids or ())
        self.emitted = 0
        self.fatal_message: str | None = None
        #: Counts a spider keeps about its own work (pages fetched, robots.txt refusals ...);
        #: the pipeline adds them to ``stats.json`` under ``run``.
        self.run_stats: Counter = Counter()

    # -- helpers for subclasses ------------------------------------------------------------
    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.emitted >= self.limit

    def item(self, source_id: str, *, downloads: list[dict] | None = None, **fields) -> dict | None:
        """A metadata item for the pipeline, or None once ``limit`` items were emitted."""
        if self.exhausted:
            return None
        self.emitted += 1
        fields.setdefault("license", self.license)
        fields.setdefault("license_url", self.license_url)
        return {"source_id": str(source_id), "downloads": list(downloads or []), "fields": fields}

    def fatal(self, message: str) -> SourceFatal:
        """``raise self.fatal("...")``: stop the crawl; the CLI exits 1 with ``message``."""
        self.fatal_message = message
        return SourceFatal(message)

    @classmethod
    def scrapy_settings(cls, options: dict) -> dict:
        """Scrapy settings this run's ``options`` call for (e.g. per-host limits); they override the
        engine's defaults, on loopback too. Called by the engine before the crawl starts."""
        return {}

    def downloader_kwargs(self) -> dict:
        """Extra :class:`~crawlers.engine.download.Downloader` arguments (auth, headers, error_hint)."""
        return {}

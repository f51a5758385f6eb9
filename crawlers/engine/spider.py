"""``SourceSpider``: the base every source's Scrapy spider extends, and its whole declaration.

A source is declared once, by its spider class (found by :mod:`crawlers.registry` walking the
``crawlers`` package, like Scrapy's spider loader): ``name``, ``terms`` (or the module docstring's
first paragraph), ``credentials`` (the environment variables it reads), ``provenance_required``,
``option_names``, and the hooks the engine calls (:meth:`SourceSpider.check_options`,
:meth:`~SourceSpider.check_resume`, :meth:`~SourceSpider.credentials_present`,
:meth:`~SourceSpider.secret_headers`, :meth:`~SourceSpider.scrapy_settings`,
:meth:`~SourceSpider.downloader_kwargs`); a spider may count its own work in ``run_stats`` (the
pipeline adds it to ``stats.json``). Every list a user
sees (``crawl --list``, ``run.json``'s ``credentials_present``, the provenance rule of ``validate``)
is derived from these attributes.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter

import scrapy
from scrapy.exceptions import CloseSpider

from crawlers.engine.download import DEFAULT_USER_AGENT
from manifests.errors import UsageError

#: Environment variable with the operator's contact (an e-mail address or a URL) for the User-Agent.
CONTACT_ENV = "MEDHARVEST_CONTACT"
#: The contact part of the built-in User-Agents, replaced by the operator's contact.
CONTACT_PLACEHOLDER = "mailto:medharvest@example.org"
_PLACEHOLDER_HOSTS = ("example.org", "example.com", "example.net")


def contact_of(options: dict | None) -> str | None:
    """The operator's contact: ``options["contact"]`` (``--contact``), else ``$MEDHARVEST_CONTACT``."""
    value = (options or {}).get("contact") or os.environ.get(CONTACT_ENV) or ""
    return str(value).strip() or None


def check_contact(value: str) -> str:
    """``"me@lab.org"`` -> ``"mailto:me@lab.org"``; a URL stays; placeholders and junk -> UsageError."""
    v = value.strip()
    if v.lower().startswith("mailto:"):
        v = v[7:]
    if re.fullmatch(r"https?://[^\s/]+\.[^\s/]+(/\S*)?", v):
        host = re.sub(r"^https?://", "", v).split("/")[0].lower()
        form = v
    elif re.fullmatch(r"[^\s@;()]+@[^\s@;()]+\.[A-Za-z]{2,}", v):
        host = v.rsplit("@", 1)[1].lower()
        form = f"mailto:{v}"
    else:
        raise UsageError(f"--contact / {CONTACT_ENV} must be an e-mail address or an http(s) URL where you can be "
                         f"reached, got {value!r}")
    if host.endswith(_PLACEHOLDER_HOSTS):
        raise UsageError(f"--contact {value!r} is a placeholder; give an address or URL where you can be reached")
    return form


class SourceFatal(CloseSpider):
    """The whole source cannot be crawled (bad credentials, missing agreement): stop the run."""


#: Options every source accepts (read by the engine, not by the spider).
ENGINE_OPTIONS = ("verify", "contact")   # contact: --contact, the operator's contact for the User-Agent


class SourceSpider(scrapy.Spider):
    #: Registry key, raw store name and ``source`` column value. Empty on base classes (not registered).
    name = ""
    #: One line of access terms for ``crawl --list``; empty: the module docstring's first paragraph.
    terms = ""
    #: Environment variables the source reads for credentials (names only; values never leave memory).
    credentials: tuple[str, ...] = ()
    #: Whether every record needs provenance (source_url, retrieved_at, license, license_url); copied
    #: into each raw item and manifest record, where ``validate`` checks it.
    provenance_required = True
    #: ``--option KEY=VALUE`` names the spider reads; any other name is a usage error (did you mean).
    option_names: tuple[str, ...] = ()
    default_base_url = ""
    source_user_agent = DEFAULT_USER_AGENT
    download_rate: float | None = 5.0     # streaming downloads, requests/s per host (None: unlimited)
    download_per_host = 4
    metadata_delay = 1.0                  # Scrapy metadata requests (AutoThrottle starts here)
    robots_txt = True                     # obey robots.txt (APIs that publish none: harmless)
    license: str | None = None
    license_url: str | None = None
    #: The source's etiquette demands a real contact in the User-Agent (``--contact``/``$MEDHARVEST_CONTACT``).
    contact_required = False

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
        self.source_user_agent = type(self).user_agent_for(self.options)
        self.emitted = 0
        self.fatal_message: str | None = None
        #: Counts a spider keeps about its own work (pages fetched, robots.txt refusals ...);
        #: the pipeline adds them to ``stats.json`` under ``run``.
        self.run_stats: Counter = Counter()

    # -- the operator's contact in the User-Agent -----------------------------------------------
    @classmethod
    def require_contact(cls, options: dict) -> None:
        """UsageError (exit 2, before any request) when the contact is needed and absent, or malformed."""
        value = contact_of(options)
        if value is None:
            if cls.contact_required:
                raise UsageError(
                    f"crawl {cls.name} needs a contact for its User-Agent ({cls.name}'s User-Agent policy asks every "
                    f"client for a way to reach its operator): pass --contact you@your-lab.org (or a URL), or set "
                    f"{CONTACT_ENV}")
            return
        check_contact(value)

    @classmethod
    def user_agent_for(cls, options: dict | None) -> str:
        """The User-Agent with the operator's contact in place of the built-in placeholder."""
        value = contact_of(options)
        ua = cls.source_user_agent
        if value is None:
            return ua
        try:
            form = check_contact(value)
        except UsageError:
            return ua
        return ua.replace(CONTACT_PLACEHOLDER, form) if CONTACT_PLACEHOLDER in ua else f"{ua} ({form})"

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

    # -- hooks the engine calls (override as needed) -------------------------------------------
    @classmethod
    def check_options(cls, options: dict, query: str | None) -> None:
        """Validate ``options`` and ``query`` before any request; raise :class:`UsageError` if bad.

        Option *names* are already checked against :attr:`option_names` by the engine."""

    @classmethod
    def check_base_url(cls, base_url: str, options: dict) -> None:
        """Called before any request with the base URL the crawl will use (``--base-url``, else
        :attr:`default_base_url`; "" when neither); raise :class:`UsageError` when the options
        need one (e.g. a start URL given as a path)."""

    @classmethod
    def check_resume(cls, recorded: dict, options: dict, query: str | None) -> None:
        """Called on a re-run with what the last run recorded in ``source.json``; raise
        :class:`UsageError` when resuming would mix incompatible revisions."""

    @classmethod
    def credentials_present(cls) -> bool:
        """Whether the credentials this source reads are configured (default: any of
        :attr:`credentials` is set in the environment). Only the boolean is ever recorded."""
        return any(os.environ.get(env) for env in cls.credentials)

    def secret_headers(self, url: str) -> dict[str, str]:
        """Headers with secrets for a Scrapy request to ``url`` (added just before sending, removed
        afterwards so that neither retries nor the JOBDIR queue store them)."""
        return {}

    @classmethod
    def scrapy_settings(cls, options: dict) -> dict:
        """Scrapy settings this run's ``options`` call for (e.g. per-host limits); they override the
        engine's defaults, on loopback too. Called by the engine before the crawl starts."""
        return {}

    def downloader_kwargs(self) -> dict:
        """Extra :class:`~crawlers.engine.download.Downloader` arguments (auth, headers, error_hint)."""
        return {}

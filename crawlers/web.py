"""Web pages (institutions, encyclopaedias, journals): figures with their captions from the pages you
name; only images under an open licence (page rel=license / Creative Commons link, or a Wikipedia
image's Commons file licence) are downloaded; robots.txt obeyed, polite per-host limits.

Datasheet
---------
What it is
    Any public website: NIH and WHO pages, Wikipedia articles, open-access journal pages. Each
    ``<img>`` (inside ``<figure>`` or not) becomes one image–text pair: ``text`` = the
    ``<figcaption>`` (``text_kind="caption"``), else the alt text (``"description"``); the nearest
    paragraph, page title and alt text are kept in ``meta`` (``context``, ``page_title``, ``alt``).
    Parsing: :mod:`crawlers.webfigures` (srcset largest candidate, lazy ``data-src``, ``<base href>``).
Configuration (``medharvest crawl web --start-url URL [--sitemap URL] --option KEY=VALUE``)
    ``start_urls`` (``--start-url``, repeatable) and/or ``sitemap`` (``--sitemap``; sitemap indexes
    followed); ``allowed_domains`` (default: the start URLs' and sitemap's hosts; sub-domains
    included) limits which links are followed, not where images may live; ``depth`` (default 1:
    the start pages and the pages they link to); ``max_pages`` (default 200); CSS/XPath hints:
    ``content_css`` / ``content_xpath`` (where figures are taken, e.g. ``main article``),
    ``follow_css`` / ``follow_xpath`` (which links are followed), ``caption_css`` (caption elements
    for images without ``<figcaption>``; default: MediaWiki, WordPress and common CMS classes). ``--query`` keeps only figures
    whose caption, alt, paragraph or page title contain every query word. With ``--base-url`` (a
    mirror, a replay server) start URLs that are paths are resolved against it and absolute ones
    rebased onto it. ``commons_base_url`` is where Commons file licences are looked up.
Licence (the CC-only rule of the other web sources)
    An image's licence is, in order: a ``rel="license"`` / CC link inside its ``<figure>``; for a
    MediaWiki file (linked to ``/wiki/File:…`` or served from ``upload.wikimedia.org/…/commons/``)
    the Commons file's own licence via the API's ``extmetadata`` (:mod:`crawlers.wikimedia`
    parsing; a file Commons does not hold, e.g. a local non-free file, has none); else the page's
    ``rel="license"`` link, else a Creative Commons link on the page. Only families in
    ``--licences`` (default ``CC-BY,CC-BY-SA,CC0,PD``) are downloaded. A page without any licence
    is still crawled for links, but its images are written with ``status="skipped"`` and
    ``error="no licence …"``: nothing unlicensed is downloaded, and the record says why.
Decorative images (``status="skipped"``, never downloaded unless stated)
    ``role="presentation"``/``none``, ``aria-hidden``, an empty alt with no caption,
    icon/logo/sprite/badge words in the image path, class, id or alt, SVG/ICO, a declared width or
    height under ``min_side`` (default 100 px), the same image URL on ``repeat_pages`` (default 2)
    or more pages (site chrome); after download: under ``min_bytes`` (default 2048), an actual
    side under ``min_side``, or the same bytes as an image already kept.
Etiquette and rate limits
    Give ``--contact`` (or ``MEDHARVEST_CONTACT``): it goes into the User-Agent, which Wikimedia's
    policy asks for when Commons licences are looked up. robots.txt is obeyed for pages and images (Scrapy ``ROBOTSTXT_OBEY``; a refused image is
    skipped with the reason). Remote hosts: 2 concurrent requests per host, 1 s delay, AutoThrottle;
    ``per_host`` (concurrency), ``delay`` (seconds) and ``host_limits``
    (``{"www.who.int": {"concurrency": 1, "delay": 2}}``) override. The Commons API is called
    under API etiquette (``maxlag``, 50 titles per request), as the ``wikimedia`` source does.
Citation
    Credit each image by its page (``source_url``), licence and ``attribution``.

Items: ``source_id`` = the image URL without its scheme and port (``host/path?query``), so an image
found again on a re-run (or through another mirror port) is the same item; images are fetched through Scrapy (they are small) and
stored by the pipeline without a second request.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from urllib.parse import urljoin, urlsplit, urlunsplit

import scrapy
from scrapy import exceptions as scrapy_exc
from scrapy.exceptions import IgnoreRequest
from twisted.internet import error as twisted_error
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from crawlers import licences, wikimedia
from crawlers.engine.integrity import sniff
from crawlers.engine.spider import SourceSpider
from crawlers.webfigures import (CAPTION_CSS, Figure, Page, commons_key, decoration, file_path, listify, parse_page,
                                 parse_sitemap, source_id)
from manifests.errors import UsageError
from manifests.raw import RawStore

SOURCE = "web"
INT_OPTIONS = {"depth": 1, "max_pages": 200, "min_side": 100, "min_bytes": 2048, "repeat_pages": 2,
               "max_bytes": 20 << 20, "per_host": None}
STR_OPTIONS = ("sitemap", "content_css", "content_xpath", "follow_css", "follow_xpath", "caption_css", "licences",
               "commons_base_url")
OPTIONS = frozenset({"start_urls", "allowed_domains", "delay", "host_limits", *INT_OPTIONS, *STR_OPTIONS})
#: What a download can fail with once the retries are spent (Scrapy's own wrappers and Twisted's).
NETWORK_ERRORS = (scrapy_exc.DownloadConnectionRefusedError, scrapy_exc.CannotResolveHostError,
                  scrapy_exc.DownloadTimeoutError, scrapy_exc.DownloadCancelledError, scrapy_exc.DownloadFailedError,
                  scrapy_exc.ResponseDataLossError, twisted_error.ConnectError, twisted_error.ConnectionLost,
                  twisted_error.TimeoutError, ResponseFailed, ResponseNeverReceived, OSError, TimeoutError)
BATCH = 8               # pages / images awaited together (the downloader's per-host limits still apply)


class Spider(SourceSpider):
    """Options: see the module docstring (``start_urls``, ``sitemap``, ``depth``, hints, limits)."""

    name = SOURCE
    option_names = tuple(sorted(OPTIONS))
    default_base_url = ""
    robots_txt = True
    metadata_delay = 1.0

    @classmethod
    def check_options(cls, options: dict, query: str | None) -> None:
        if not listify(options.get("start_urls")) and not options.get("sitemap"):
            raise UsageError("web needs at least one --start-url URL or --sitemap URL")
        for key in INT_OPTIONS:
            if options.get(key) is not None and (not str(options[key]).isdigit()):
                raise UsageError(f"web option {key} must be a whole number >= 0, got {options[key]!r}")
        try:
            licences.parse_filter(options.get("licences"))
            if options.get("delay") is not None:
                float(options["delay"])
        except ValueError as err:
            raise UsageError(str(err)) from None
        from cssselect import SelectorError
        from parsel import Selector

        probe = Selector(text="<html><body></body></html>")
        for key in ("content_css", "follow_css", "caption_css", "content_xpath", "follow_xpath"):
            if options.get(key):
                try:
                    (probe.css if key.endswith("css") else probe.xpath)(options[key])
                except (SelectorError, ValueError) as err:      # bad CSS / bad XPath
                    raise UsageError(f"web option {key}={options[key]!r} is not a valid selector ({err})") from None

    @classmethod
    def check_base_url(cls, base_url: str, options: dict) -> None:
        if base_url:
            return
        for what, url in [("start URL", u) for u in listify(options.get("start_urls"))] + (
                [("sitemap", options["sitemap"])] if options.get("sitemap") else []):
            if not str(url).startswith(("http://", "https://")):
                raise UsageError(f"web {what} {url!r} is a path: give an absolute http(s) URL, or --base-url "
                                 f"to resolve it against")

    @classmethod
    def scrapy_settings(cls, options: dict) -> dict:
        s: dict = {}
        if options.get("per_host") is not None:
            s["CONCURRENT_REQUESTS_PER_DOMAIN"] = max(1, int(options["per_host"]))
        if options.get("delay") is not None:
            s["DOWNLOAD_DELAY"] = s["AUTOTHROTTLE_START_DELAY"] = float(options["delay"])
        if options.get("host_limits"):
            s["DOWNLOAD_SLOTS"] = dict(options["host_limits"])
        return s

    # -- setup -------------------------------------------------------------------------------
    def _opt(self, key: str) -> int:
        v = self.options.get(key)
        return int(v) if v is not None else INT_OPTIONS[key]

    def _resolve(self, url: str) -> str:
        if self.base_url:
            if url.startswith(("http://", "https://")):
                b, u = urlsplit(self.base_url), urlsplit(url)
                return urlunsplit((b.scheme, b.netloc, u.path, u.query, ""))
            return urljoin(self.base_url + "/", url.lstrip("/"))
        if not url.startswith(("http://", "https://")):
            raise self.fatal(f"start URL {url!r} is a path: give an absolute http(s) URL or --base-url")
        return url

    def _allowed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def _host_limit(self, url: str) -> asyncio.Semaphore:
        """At most ``per_host`` (``CONCURRENT_REQUESTS_PER_DOMAIN``, or the host's ``DOWNLOAD_SLOTS``
        concurrency) requests in flight per host. Scrapy's slot alone does not hold it here: requests
        enqueued in the same tick all start before any is counted as transferring (seen with 2.19)."""
        host = urlsplit(url).hostname or ""
        if host not in self._sems:
            slots = self.crawler.settings.getdict("DOWNLOAD_SLOTS")
            n = (slots.get(host) or {}).get("concurrency") or self.crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
            self._sems[host] = asyncio.Semaphore(max(1, int(n)))
        return self._sems[host]

    async def _get(self, url: str, **meta) -> scrapy.http.Response | None:
        """A response through the downloader middlewares (robots.txt, retries, per-host slots), or None."""
        req = scrapy.Request(url, dont_filter=True, meta={"allow_offsite": True, **meta})
        try:
            async with self._host_limit(url):
                resp = await self.crawler.engine.download_async(req)
        except IgnoreRequest as err:
            self.run_stats["robots_forbidden" if "robots" in str(err) else "requests_ignored"] += 1
            self.refused.add(url)
            return None
        except NETWORK_ERRORS as err:       # after the retry middleware gave up
            self.logger.warning("%s: %s: %s", url, type(err).__name__, err)
            self.run_stats["requests_failed"] += 1
            return None
        if resp.status >= 400:
            self.run_stats["http_errors"] += 1
            self.logger.info("%s: HTTP %s", url, resp.status)
        return resp

    # -- phase 1: pages --------------------------------------------------------------------------
    async def _pages(self) -> list[Page]:
        level = [(self._resolve(u), 0) for u in listify(self.options.get("start_urls"))]
        if self.options.get("sitemap"):
            level += [(u, 0) for u in await self._sitemap(self._resolve(self.options["sitemap"]))]
        self.domains = {d.lower() for d in listify(self.options.get("allowed_domains"))} or {
            (urlsplit(u).hostname or "").lower() for u, _ in level}
        max_depth, max_pages = self._opt("depth"), self._opt("max_pages")
        seen: set[str] = set()
        pages: list[Page] = []
        while level and len(seen) < max_pages:
            todo = []
            for url, d in level:
                if url not in seen and len(seen) < max_pages:
                    seen.add(url)
                    todo.append((url, d))
            nxt = []
            for i in range(0, len(todo), BATCH):
                chunk = todo[i:i + BATCH]
                for (_url, depth), resp in zip(chunk, await asyncio.gather(*(self._get(u) for u, _ in chunk))):
                    page = self._page(resp)
                    if page is None:
                        continue
                    pages.append(page)
                    if depth < max_depth:
                        nxt += [(link, depth + 1) for link in page.links if self._allowed(link) and link not in seen]
            level = nxt
        self.run_stats["pages"] = len(pages)
        return pages

    def _page(self, resp) -> Page | None:
        if resp is None or resp.status >= 400:
            return None
        ctype = resp.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        if "html" not in ctype:
            return None
        o = self.options
        body = resp.text if isinstance(resp, scrapy.http.TextResponse) else resp.body   # declared charset honoured
        return parse_page(body, resp.url, content_css=o.get("content_css"), content_xpath=o.get("content_xpath"),
                          follow_css=o.get("follow_css"), follow_xpath=o.get("follow_xpath"),
                          caption_css=o.get("caption_css", CAPTION_CSS))

    async def _sitemap(self, url: str, nesting: int = 0) -> list[str]:
        resp = await self._get(url)
        if resp is None or resp.status >= 400:
            raise self.fatal(f"sitemap {url} could not be read")
        try:
            locs, nested = parse_sitemap(resp.body)
        except (ValueError, OSError) as err:
            raise self.fatal(f"sitemap {url} is not a sitemap ({err})") from err
        for sub in nested[:50] if nesting < 3 else []:
            locs += await self._sitemap(self._resolve(sub), nesting + 1)
        return [self._resolve(u) for u in locs]

    # -- phase 2: decide, look up licences, fetch ------------------------------------------------
    async def start(self):
        self.families = licences.parse_filter(self.options.get("licences"))
        self.refused: set[str] = set()
        self._sems: dict[str, asyncio.Semaphore] = {}
        # images kept by an earlier run count for "same bytes as" (a copy under another URL stays skipped)
        store = RawStore(self.settings.get("MEDHARVEST_OUT"), self.name)
        self.kept_bytes: dict[str, str] = {it.sha256: sid for sid, it in store.latest().items()
                                           if it.status == "ok" and it.sha256}
        pages = await self._pages()
        occurrences: dict[str, list[tuple[Figure, Page]]] = {}
        for page in pages:
            for fig in page.figures:
                occurrences.setdefault(fig.image_url, []).append((fig, page))
        plans = []
        for image_url, occ in occurrences.items():
            if source_id(image_url) in self.done_ids:
                self.run_stats["skipped_done"] += 1
                continue
            plans.append(self._plan(image_url, occ))
        await self._commons_licences([p for p in plans if p["status"] == "pending" and p["fig"].commons_title])
        fetch = []
        for p in plans:
            if p["status"] == "pending":
                self._licence(p)
            if p["status"] == "pending":
                fetch.append(p)
            else:
                yield self._unfetched(p)
        for i in range(0, len(fetch), BATCH):
            chunk = fetch[i:i + BATCH]
            resps = await asyncio.gather(*(self._get(p["fig"].image_url, download_maxsize=self._opt("max_bytes"))
                                           for p in chunk))
            for p, resp in zip(chunk, resps):
                item = self._fetched(p, resp)
                if item is None:
                    return                     # --limit reached
                yield item

    def _plan(self, image_url: str, occ: list[tuple[Figure, Page]]) -> dict:
        pages = sorted({f.page_url for f, _ in occ})
        fig, page = max(occ, key=lambda fp: (bool(fp[0].caption), len(fp[0].text)))
        p = {"fig": fig, "page": page, "pages": pages, "status": "pending", "error": None}
        if (why := decoration(fig, min_side=self._opt("min_side"))) is not None:
            p.update(status="skipped", error=f"decorative: {why}")
        elif len(pages) >= self._opt("repeat_pages"):
            p.update(status="skipped", error=f"decorative: the same image is on {len(pages)} pages (site chrome)")
        elif self.query and not all(w in " ".join((fig.caption, fig.alt, fig.context, page.title)).lower()
                                    for w in self.query.lower().split()):
            p.update(status="skipped", error=f"caption, alt text and paragraph do not mention {self.query!r}")
        return p

    def _licence(self, p: dict) -> None:
        fig, page = p["fig"], p["page"]
        if "licence" in p:                                   # set from Commons
            pass
        elif fig.licence:
            p.update(licence=fig.licence, licence_url=fig.licence_url, licence_from="figure")
        elif page.licence:
            p.update(licence=page.licence, licence_url=page.licence_url, licence_from=f"page ({page.licence_from})")
        else:
            p.update(status="skipped", error="no licence on the page (no rel=license or Creative Commons link): "
                                             "not downloaded")
            return
        if p["status"] == "pending" and not licences.allowed(p["licence"], self.families):
            p.update(status="skipped", error=f"licence {p['licence']!r} not in --licences ({','.join(sorted(self.families))})")
        p.setdefault("attribution", f"{page.title} ({urlsplit(page.url).hostname})" if page.title else urlsplit(page.url).hostname)

    async def _commons_licences(self, plans: list[dict]) -> None:
        """Commons ``extmetadata`` for MediaWiki files; a file Commons does not hold gets no licence."""
        base = (self.options.get("commons_base_url") or wikimedia.DEFAULT_BASE_URL).rstrip("/")
        titles = sorted({p["fig"].commons_title for p in plans})
        found: dict[str, object] = {}
        for i in range(0, len(titles), wikimedia.TITLES_PER_REQUEST):
            batch = titles[i:i + wikimedia.TITLES_PER_REQUEST]
            url = wikimedia.api_url(base, wikimedia.imageinfo_params(batch))
            for _attempt in range(wikimedia.MAX_LAG_RETRIES):
                resp = await self._get(url, dont_obey_robotstxt=True)   # the API follows API etiquette (maxlag)
                if resp is None or resp.status >= 400:
                    break
                try:
                    for raw in wikimedia.parse_imageinfo(resp.body, families=self.families,
                                                         retry_after=(resp.headers.get(b"Retry-After") or b"").decode()):
                        found[commons_key(raw.source_id)] = raw
                    break
                except wikimedia.Maxlag as err:
                    await asyncio.sleep(min(err.retry_after, 30.0))
                except wikimedia.ApiError as err:
                    self.logger.warning("Commons lookup failed: %s", err)
                    break
        self.run_stats["commons_lookups"] += len(titles)
        for p in plans:
            raw = found.get(commons_key(p["fig"].commons_title))
            if raw is None or raw.status == "error":
                p.update(status="skipped", error=f"no Commons licence for {p['fig'].commons_title} "
                                                 "(not a Commons file, or the lookup failed): not downloaded")
            elif raw.status == "skipped":
                p.update(status="skipped", error=f"Commons: {raw.error}")
            else:
                p.update(licence=raw.license, licence_url=raw.license_url, attribution=raw.attribution,
                         licence_from="commons", commons_url=raw.source_url)

    def _fields(self, p: dict) -> dict:
        fig, page = p["fig"], p["page"]
        meta = {k: v for k, v in {
            "file_url": fig.image_url, "page_url": page.url, "page_title": page.title, "alt": fig.alt,
            "caption": fig.caption, "context": fig.context, "chosen_from": fig.chosen_from,
            "declared_width": fig.width, "declared_height": fig.height, "width": p.get("width"),
            "height": p.get("height"), "pages": p["pages"],
            "licence_from": p.get("licence_from"), "commons_title": fig.commons_title, "commons_url": p.get("commons_url"),
        }.items() if v not in (None, "", [])}
        return {"text": fig.text or None, "text_kind": ("caption" if fig.caption else "description") if fig.text else None,
                "license": p.get("licence"), "license_url": p.get("licence_url"), "attribution": p.get("attribution"),
                "source_url": page.url, "meta": meta}

    def _unfetched(self, p: dict) -> dict:
        return {"source_id": source_id(p["fig"].image_url), "downloads": [],
                "fields": {**self._fields(p), "status": p["status"], "error": p["error"]}}

    def _fetched(self, p: dict, resp) -> dict | None:
        url = p["fig"].image_url
        status, error = "ok", None
        if resp is None:
            status, error = ("skipped", "image forbidden by robots.txt") if url in self.refused else \
                ("error", "image request failed (see the log)")
        elif resp.status != 200:
            status, error = "error", f"image HTTP {resp.status}"
        else:
            body = resp.body
            ctype = resp.headers.get(b"Content-Type", b"").decode("latin-1")
            status, error = self._check_bytes(url, body, ctype, p)
        if status != "ok":
            p.update(status=status, error=error)
            return self._unfetched(p)
        fields = self._fields(p)
        download = {"url": url, "path": file_path(url), "body": body, "expect": "image", "role": "file"}
        return self.item(source_id(url), downloads=[download], **fields)

    def _check_bytes(self, url: str, body: bytes, ctype: str, p: dict) -> tuple[str, str | None]:
        from PIL import Image, UnidentifiedImageError

        bad = sniff(body[:64], ctype, "image")
        if bad:
            return "error", bad
        if len(body) < self._opt("min_bytes"):
            return "skipped", f"decorative: {len(body)} bytes < min_bytes {self._opt('min_bytes')}"
        try:
            with Image.open(io.BytesIO(body)) as im:
                w, h = im.size
        except (UnidentifiedImageError, OSError, ValueError) as err:
            return "error", f"image cannot be read ({err})"
        side = self._opt("min_side")
        if min(w, h) < side:
            return "skipped", f"decorative: image is {w}x{h} px, a side < min_side {side}"
        digest = hashlib.sha256(body).hexdigest()
        if digest in self.kept_bytes:
            return "skipped", f"decorative: same bytes as {self.kept_bytes[digest]} (repeated image)"
        self.kept_bytes[digest] = source_id(url)
        p["width"], p["height"] = w, h
        return "ok", None

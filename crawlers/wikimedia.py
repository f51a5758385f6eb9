"""Wikimedia Commons (MediaWiki Action API): public, no login; per-file CC BY / BY-SA / CC0 / public
domain (option licences=…), maxlag=5, a User-Agent with your contact (--contact or MEDHARVEST_CONTACT:
required), sha1-verified files.

Datasheet
---------
What it is
    Commons (https://commons.wikimedia.org) holds >100 M freely licensed files, among them many
    radiographs, CT/MRI slices, histology and clinical photographs, with a description page per file.
Access
    Public Action API at ``/w/api.php`` (JSON, ``formatversion=2``), no account needed for reading.
    Discovery: ``list=categorymembers&cmtitle=Category:…&cmtype=file`` (a ``Category:`` query) or
    ``list=search&srnamespace=6&srsearch=…`` (any other query). Metadata:
    ``prop=imageinfo&iiprop=url|size|mime|sha1|extmetadata`` for up to 50 titles per request.
    Paging follows the ``continue`` protocol: every key of the ``continue`` object is sent back
    unchanged with the next request (listings, and imageinfo batches the API cut short). A wiki
    other than Commons (``--base-url https://en.wikipedia.org``) answers for Commons files with
    ``missing`` + ``known`` + ``imagerepository: "shared"`` and a full imageinfo: such files are kept.
    Files come from ``upload.wikimedia.org``.
Licence
    Per file, from ``extmetadata``: ``LicenseShortName`` ("CC BY-SA 4.0", "Public domain", "CC0"…),
    ``LicenseUrl``, ``AttributionRequired``, ``Artist``/``Credit`` (HTML). Only files whose licence
    family is in ``--licences`` (default ``CC-BY,CC-BY-SA,CC0,PD``) are downloaded; the others are
    written with ``status="skipped"``. The attribution line is built from Artist + Credit.
Etiquette and rate limits
    A descriptive User-Agent with the operator's contact (Wikimedia's User-Agent policy; ``crawl
    wikimedia`` refuses to start without ``--contact`` or ``MEDHARVEST_CONTACT``), ``maxlag=5`` on every
    API request: a ``maxlag`` error (HTTP 200 or 503, ``Retry-After`` header) means "wait and
    retry", never "failed". Requests are sequential per host (no parallel API calls).
Integrity
    Each downloaded file is checked against the published ``sha1`` (and ``size``); a mismatch is
    retried and finally recorded as ``status="error"``.
Citation
    Cite each file by its author and licence (``attribution``, ``license``, ``source_url``).

Items: one per file (``source_id`` = the file title without ``File:``), ``text`` = the description
with HTML stripped (``text_kind="description"``).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from urllib.parse import urlencode, urlsplit, urlunsplit

import scrapy

from crawlers import licences
from crawlers.engine.integrity import safe_name
from crawlers.engine.spider import SourceSpider
from crawlers.webitems import to_item
from crawlers.webtext import html_text
from manifests.errors import UsageError
from manifests.raw import RawItem, now_iso

SOURCE = "wikimedia"
DEFAULT_BASE_URL = "https://commons.wikimedia.org"
API_PATH = "/w/api.php"
MAXLAG = 5
TITLES_PER_REQUEST = 50
MAX_TITLES_CHARS = 6000     # encoded titles per request: URLs stay below 8 KB (and Scrapy's URLLENGTH_LIMIT)
IIPROP = "url|size|mime|sha1|extmetadata"
#: Files worth downloading as images (Commons also holds SVG diagrams, PDFs, DjVu, audio and video).
RASTER_MIMES = frozenset({"image/jpeg", "image/png", "image/gif", "image/tiff", "image/webp"})
EXTMETADATA = "ImageDescription|ObjectName|LicenseShortName|LicenseUrl|Artist|Credit|AttributionRequired|UsageTerms|DateTime"


class ApiError(RuntimeError):
    """The API answered with an ``error`` object (other than maxlag)."""


class Maxlag(RuntimeError):
    """The API asked us to back off (replication lag); retry after ``retry_after`` seconds."""

    def __init__(self, info: str, retry_after: float):
        super().__init__(f"maxlag: {info}; retry after {retry_after:g}s")
        self.retry_after = retry_after


def api_url(base_url: str, params: dict) -> str:
    full = {"action": "query", "format": "json", "formatversion": "2", "maxlag": MAXLAG, **params}
    return f"{base_url.rstrip('/')}{API_PATH}?{urlencode(full)}"


def listing_params(query: str, *, batch: int = TITLES_PER_REQUEST) -> dict:
    """``Category:X`` -> category members of type file; anything else -> a File-namespace search."""
    q = query.strip()
    if q.lower().startswith("category:"):
        return {"list": "categorymembers", "cmtitle": "Category:" + q.split(":", 1)[1].strip(),
                "cmtype": "file", "cmlimit": batch}
    return {"list": "search", "srsearch": q, "srnamespace": 6, "srlimit": batch, "srwhat": "text"}


def imageinfo_params(titles: list[str]) -> dict:
    return {"prop": "imageinfo", "titles": "|".join(titles), "iiprop": IIPROP,
            "iiextmetadatafilter": EXTMETADATA, "iiextmetadatalanguage": "en"}


def title_batches(titles: list[str], *, per_request: int = TITLES_PER_REQUEST, max_chars: int = MAX_TITLES_CHARS):
    """Groups of at most ``per_request`` titles whose URL-encoded ``titles=`` stays under ``max_chars``
    (50 long Commons titles make a GET URL over the 8 KB front-end limit)."""
    batch: list[str] = []
    size = 0
    for t in titles:
        n = len(urlencode({"t": t})) + 1
        if batch and (len(batch) >= per_request or size + n > max_chars):
            yield batch
            batch, size = [], 0
        batch.append(t)
        size += n
    if batch:
        yield batch


def _load(body: bytes, retry_after: str | None = None) -> dict:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(f"not a MediaWiki API JSON response ({err}); starts {body[:60]!r}") from err
    if not isinstance(data, dict):
        raise ApiError("MediaWiki API response is not an object")
    err = data.get("error")
    if err:
        if err.get("code") == "maxlag":
            try:
                wait = float(retry_after) if retry_after else float(err.get("lag") or MAXLAG)
            except ValueError:
                wait = float(MAXLAG)
            raise Maxlag(str(err.get("info", "")), max(wait, 1.0))
        raise ApiError(f"{err.get('code')}: {err.get('info')}")
    return data


def parse_listing(body: bytes, *, retry_after: str | None = None) -> tuple[list[str], dict | None]:
    """A categorymembers/search page -> (File: titles, the ``continue`` object or ``None``)."""
    data = _load(body, retry_after)
    q = data.get("query") or {}
    rows = q.get("categorymembers") or q.get("search") or []
    titles = [r["title"] for r in rows if r.get("ns") == 6 and r.get("title")]
    return titles, data.get("continue")


def _pages(q: dict) -> list[dict]:
    pages = q.get("pages") or []
    return list(pages.values()) if isinstance(pages, dict) else list(pages)  # formatversion 1 / 2


def _meta(em: dict, key: str) -> str:
    v = (em.get(key) or {}).get("value")
    return v if isinstance(v, str) else ("" if v is None else str(v))


def rebase(url: str, base_url: str | None) -> str:
    """``https://upload.wikimedia.org/x`` -> ``<base_url>/x`` when a mirror/replay base is given."""
    if not base_url or base_url.rstrip("/") == DEFAULT_BASE_URL:
        return url
    b, u = urlsplit(base_url), urlsplit(url)
    return urlunsplit((b.scheme, b.netloc, u.path, u.query, ""))


def parse_imageinfo(body: bytes, *, families: frozenset[str] = frozenset(licences.OPEN_FAMILIES),
                    base_url: str | None = None, retrieved_at: str | None = None,
                    retry_after: str | None = None, max_bytes: int | None = None) -> list[RawItem]:
    """An imageinfo response -> one :class:`RawItem` per file (``meta``: file_url, sha1, size, mime)."""
    items, _cont, _pending = parse_imageinfo_batch(body, families=families, base_url=base_url, retrieved_at=retrieved_at,
                                                   retry_after=retry_after, max_bytes=max_bytes)
    return items


def _is_missing(page: dict) -> bool:
    """A file that exists nowhere. A wiki's page for a Commons file is ``missing`` locally but ``known``
    with ``imagerepository: "shared"`` (formatversion 2: ``true``; 1: ``""``) and its imageinfo is real."""
    if page.get("imageinfo"):
        return False
    return page.get("missing") is not None and not page.get("imagerepository")


def parse_imageinfo_batch(body: bytes, *, families: frozenset[str] = frozenset(licences.OPEN_FAMILIES),
                          base_url: str | None = None, retrieved_at: str | None = None,
                          retry_after: str | None = None,
                          max_bytes: int | None = None) -> tuple[list[RawItem], dict | None, list[str]]:
    """An imageinfo response -> (items, the ``continue`` object, titles whose imageinfo is still to come).

    When the API cuts a batch short (large ``extmetadata``), it answers with ``continue`` and the
    pages after the cut carry no ``imageinfo`` yet: they are *pending* (asked again with the
    ``continue`` values), not errors. Without ``continue``, a page with no imageinfo is an error.
    """
    data = _load(body, retry_after)
    cont = data.get("continue")
    when = retrieved_at or now_iso()
    out, pending = [], []
    for page in _pages(data.get("query") or {}):
        title = page.get("title") or ""
        sid = title.split(":", 1)[1] if ":" in title else title
        infos = page.get("imageinfo") or []
        if not infos:
            if cont and not _is_missing(page):
                pending.append(title)
                continue
            out.append(RawItem(source=SOURCE, source_id=sid, retrieved_at=when, status="error",
                               error="file does not exist (missing on the wiki and in its shared repository)"
                               if _is_missing(page) else "the API returned no imageinfo for this file"))
            continue
        ii = infos[0]
        em = ii.get("extmetadata") or {}
        short = _meta(em, "LicenseShortName")
        lic = licences.normalise(short)
        by_url = licences.normalise(_meta(em, "LicenseUrl"))  # carries the version ("CC0" -> "CC0-1.0")
        if by_url and (lic is None or licences.family(by_url) == licences.family(lic)):
            lic = by_url
        lic_url = _meta(em, "LicenseUrl") or licences.url_for(lic) or None
        artist = html_text(_meta(em, "Artist"))
        credit = html_text(_meta(em, "Credit"))
        attribution = "; ".join(x for x in (artist, credit) if x) or None
        status, error = "ok", None
        mime = ii.get("mime") or _guess_mime(ii.get("url"))
        if not allowed_licence(lic, families):
            status, error = "skipped", f"licence {short or 'unknown'!r} not in --licences ({','.join(sorted(families))})"
        elif mime not in RASTER_MIMES:
            status, error = "skipped", f"not a raster image ({mime or 'no mime type'})"
        elif max_bytes is not None and (ii.get("size") or 0) > max_bytes:
            status, error = "skipped", f"file is {ii.get('size')} bytes, over the {max_bytes}-byte limit"
        out.append(RawItem(
            source=SOURCE,
            source_id=sid,
            text=html_text(_meta(em, "ImageDescription")) or None,
            text_kind="description" if _meta(em, "ImageDescription") else None,
            license=lic or (short or None),
            license_url=lic_url,
            attribution=attribution,
            source_url=ii.get("descriptionurl"),
            retrieved_at=when,
            meta={k: v for k, v in {
                "file_url": rebase(ii["url"], base_url) if ii.get("url") else None,
                "original_url": ii.get("url"),
                "sha1": ii.get("sha1"),
                "size": ii.get("size"),
                "mime": mime or None,
                "width": ii.get("width"),
                "height": ii.get("height"),
                "pageid": page.get("pageid"),
                "license_short_name": short,
                "attribution_required": _meta(em, "AttributionRequired").lower() == "true",
                "object_name": _meta(em, "ObjectName"),
            }.items() if v not in (None, "")},
            status=status,
            error=error,
        ))
    return out, cont, pending


def _guess_mime(url: str | None) -> str:
    """No ``mime`` in the answer (``iiprop`` without it): the type from the file name, ``.JPG`` included."""
    if not url:
        return ""
    return mimetypes.guess_type(urlsplit(url).path.lower())[0] or ""


def allowed_licence(lic: str | None, families: frozenset[str]) -> bool:
    return licences.allowed(lic, families)


# -- the spider ------------------------------------------------------------------------------------
MAX_LAG_RETRIES = 8
MAX_INFO_CONTINUES = 50     # continuations of one imageinfo batch (50 titles) before giving up on the rest


class Spider(SourceSpider):
    """``--query`` ``Category:Chest radiographs`` or search words; options ``licences`` (families),
    ``max_bytes`` (skip larger files)."""

    name = SOURCE
    option_names = ("licences", "max_bytes")
    default_base_url = DEFAULT_BASE_URL
    robots_txt = False          # the Action API is governed by API etiquette (maxlag, User-Agent), not robots.txt
    download_per_host = 2       # upload.wikimedia.org: modest parallelism
    download_rate = 5.0
    metadata_delay = 0.5
    contact_required = True     # Wikimedia's User-Agent policy: a way to reach the operator
    custom_settings = {"URLLENGTH_LIMIT": 8192}   # Scrapy's 2083 would drop imageinfo batches silently

    @classmethod
    def check_options(cls, options: dict, query: str | None) -> None:
        try:
            licences.parse_filter(options.get("licences"))
        except ValueError as err:
            raise UsageError(str(err)) from None

    async def start(self):
        self.families = licences.parse_filter(self.options.get("licences"))
        self.listing = listing_params(self.query or "Category:Chest radiographs")
        self.continued: set[str] = set()
        self.info_seen: set[str] = set()
        yield self._listing_request({})

    def _listing_request(self, cont: dict) -> scrapy.Request:
        return scrapy.Request(api_url(self.base_url, {**self.listing, **cont}), callback=self.parse_listing,
                              cb_kwargs={"cont": cont}, dont_filter=True)

    async def _backoff(self, response, err: Maxlag):
        tries = response.meta.get("maxlag_tries", 0) + 1
        if tries > MAX_LAG_RETRIES:
            raise self.fatal(f"Commons stayed lagged after {MAX_LAG_RETRIES} retries ({err})")
        self.logger.info("%s; waiting", err)
        await asyncio.sleep(min(err.retry_after, 60.0))
        return response.request.replace(meta={**response.meta, "maxlag_tries": tries}, dont_filter=True)

    def _header(self, response, name: str) -> str | None:
        v = response.headers.get(name)
        return v.decode("latin-1") if v else None

    async def parse_listing(self, response, cont: dict):
        try:
            titles, nxt = parse_listing(response.body, retry_after=self._header(response, "Retry-After"))
        except Maxlag as err:
            yield await self._backoff(response, err)
            return
        except ApiError as err:
            raise self.fatal(f"Commons listing failed: {err}") from err
        todo = [t for t in titles if t.split(":", 1)[-1] not in self.done_ids]
        for batch in title_batches(todo):
            yield self._info_request(batch, {})
        key = json.dumps(nxt, sort_keys=True)
        if nxt and key in self.continued:
            self.logger.warning("the API repeated a continue token (%s); stopping the listing", key)
        elif nxt and not self.exhausted:
            self.continued.add(key)
            yield self._listing_request(nxt)

    def _info_request(self, titles: list[str], cont: dict) -> scrapy.Request:
        return scrapy.Request(api_url(self.base_url, {**imageinfo_params(titles), **cont}), callback=self.parse_info,
                              dont_filter=True, priority=10, cb_kwargs={"titles": titles, "cont": cont})

    async def parse_info(self, response, titles: list[str] | None = None, cont: dict | None = None):
        try:
            items, nxt, pending = parse_imageinfo_batch(
                response.body, families=self.families, base_url=self.base_url,
                retry_after=self._header(response, "Retry-After"),
                max_bytes=int(self.options["max_bytes"]) if self.options.get("max_bytes") else None)
        except Maxlag as err:
            yield await self._backoff(response, err)
            return
        except ApiError as err:
            raise self.fatal(f"Commons imageinfo failed: {err}") from err
        pending = [t for t in pending if t.split(":", 1)[-1] not in self.info_seen]
        depth = response.meta.get("info_depth", 0)
        if pending and nxt and titles and nxt != cont and depth < MAX_INFO_CONTINUES:
            # the batch was cut short: ask for the rest with the continue values
            request = self._info_request(titles, nxt)
            request.meta["info_depth"] = depth + 1
            yield request
        elif pending:
            self.logger.warning("imageinfo for %d file(s) never came (continue %s)", len(pending), nxt)
            for title in pending:
                yield to_item(self, RawItem(source=SOURCE, source_id=title.split(":", 1)[-1], retrieved_at=now_iso(),
                                            status="error", error="the API returned no imageinfo for this file"))
        for raw in items:
            if raw.source_id in self.info_seen:      # a continued batch repeats the pages already done
                continue
            self.info_seen.add(raw.source_id)
            sha1 = raw.meta.get("sha1")
            item = to_item(self, raw, path=safe_name(raw.source_id.replace(" ", "_"), fallback="file"),
                           checksum=f"sha1:{sha1}" if sha1 else None, size=raw.meta.get("size"), expect="image")
            if item is None:
                return
            yield item

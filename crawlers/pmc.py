"""PubMed Central OA subset (E-utilities + OA web service): public, NCBI_API_KEY optional (3 -> 10 req/s);
figure-caption pairs from Creative Commons-licensed open-access articles only.

Datasheet
---------
What it is
    PMC (https://pmc.ncbi.nlm.nih.gov) is the NLM's full-text archive of biomedical articles; its
    Open Access (OA) subset (several million articles) may be reused under each article's licence.
    Every figure (``<fig>``: label, caption, graphic) becomes one image–caption pair.
Access
    E-utilities (``https://eutils.ncbi.nlm.nih.gov/entrez/eutils/``), public, no account:
    ``esearch.fcgi?db=pmc&term=…&usehistory=y`` puts the hits on the History server and returns
    ``WebEnv`` + ``QueryKey``; ``efetch.fcgi?db=pmc&WebEnv=…&query_key=…&retstart=…&retmax=…``
    returns the articles as JATS XML in batches. Every request carries ``tool`` and ``email`` (and
    ``api_key`` when ``NCBI_API_KEY`` is set; the key is a secret: never logged, never in items).
    OA check: ``https://www.ncbi.nlm.nih.gov/pmc/utils/oa/oa.fcgi?id=PMCxxxx`` returns the record's
    ``license`` and package links, or ``<error code="idIsNotOpenAccess">``.
    Figures: ``/pmc/articles/PMCxxxx/bin/<graphic href>.jpg``.
Licence
    Per article: JATS ``<permissions><license xlink:href=…>`` or ``<ali:license_ref>``, else the OA
    service's ``license`` attribute. Only articles in the OA subset with a Creative Commons (or CC0)
    licence are kept; the others are recorded with ``status="skipped"``. ``--licences`` narrows further.
Rate limits
    NCBI: at most 3 requests/second without an API key, 10 with one; large jobs on weekends or
    21:00–05:00 US Eastern. Enforced per host by the spider's download delay.
Citation
    Cite each article (``attribution``: authors, title, journal, year, DOI) and PMC:
    Sayers EW et al. Database resources of the NCBI. Nucleic Acids Res.

XML is parsed with defusedxml (no entity expansion, no external DTD fetch).
Items: one per figure (``source_id`` = ``PMCxxxx/<fig id>``), ``text`` = label + caption
(``text_kind="caption"``), ``study_id`` = the PMCID.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import posixpath
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from crawlers import licences
from crawlers.engine.credentials import same_origin, token
from crawlers.engine.integrity import safe_name
from crawlers.engine.spider import SourceSpider
from crawlers.jats import XLINK, XmlFormatError, article_ids, article_licence, attribution, caption, parse_xml, text_of
from crawlers.webitems import to_item
from manifests.errors import UsageError
from manifests.raw import RawItem, now_iso

SOURCE = "pmc"
DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov"
EUTILS_PATH = "/entrez/eutils"
OA_PATH = "/pmc/utils/oa/oa.fcgi"
DEFAULT_OA_BASE = "https://www.ncbi.nlm.nih.gov"
DEFAULT_FIGURE_BASE = "https://www.ncbi.nlm.nih.gov"
TOOL = "medharvest"
PmcFormatError = XmlFormatError   # a body that is not the expected E-utilities / JATS / OA-service XML
BATCH = 20


def _params(extra: dict, *, email: str | None, api_key: str | None) -> str:
    p = {**extra, "tool": TOOL}
    if email:
        p["email"] = email
    if api_key:
        p["api_key"] = api_key
    return urlencode(p)


def esearch_url(base_url: str, term: str, *, email: str | None = None, api_key: str | None = None,
                retmax: int = 0) -> str:
    """History-server search: only WebEnv/QueryKey/Count are needed (``retmax=0`` by default)."""
    q = _params({"db": "pmc", "term": term, "usehistory": "y", "retmax": retmax}, email=email, api_key=api_key)
    return f"{base_url.rstrip('/')}{EUTILS_PATH}/esearch.fcgi?{q}"


def efetch_url(base_url: str, webenv: str, query_key: str, *, retstart: int, retmax: int = BATCH,
               email: str | None = None, api_key: str | None = None) -> str:
    q = _params({"db": "pmc", "WebEnv": webenv, "query_key": query_key, "retstart": retstart,
                 "retmax": retmax, "retmode": "xml"}, email=email, api_key=api_key)
    return f"{base_url.rstrip('/')}{EUTILS_PATH}/efetch.fcgi?{q}"


def oa_url(base_url: str, pmcid: str) -> str:
    return f"{base_url.rstrip('/')}{OA_PATH}?{urlencode({'id': pmcid})}"


IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff")


def figure_url(base_url: str, pmcid: str, href: str) -> str:
    """PMC serves a figure's web image as ``<href>.jpg``; hrefs like PLoS's ``pone.0000217.g001`` have
    a dot but no image extension (``.g001`` is part of the name)."""
    name = posixpath.basename(href)
    if posixpath.splitext(name)[1].lower() not in IMAGE_EXTS:
        name += ".jpg"
    return f"{base_url.rstrip('/')}/pmc/articles/{pmcid}/bin/{name}"


def rate_delay(api_key: str | None) -> float:
    """Seconds between requests to NCBI: 3/s without a key, 10/s with one."""
    return 0.1 if api_key else 0.34


@dataclasses.dataclass
class SearchResult:
    count: int
    webenv: str
    query_key: str
    ids: list[str]


def parse_esearch(body: bytes) -> SearchResult:
    root = parse_xml(body, "esearch")
    if root.tag != "eSearchResult":
        raise PmcFormatError(f"esearch: unexpected root <{root.tag}>")
    err = root.findtext("ERROR")
    if err:
        raise PmcFormatError(f"esearch error: {err.strip()}")
    return SearchResult(
        count=int(root.findtext("Count") or 0),
        webenv=(root.findtext("WebEnv") or "").strip(),
        query_key=(root.findtext("QueryKey") or "").strip(),
        ids=[(e.text or "").strip() for e in root.iterfind("IdList/Id")],
    )


@dataclasses.dataclass
class OaRecord:
    pmcid: str
    open_access: bool
    license: str | None = None          # normalised
    license_raw: str | None = None
    citation: str | None = None
    retracted: bool = False
    links: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str | None = None


def parse_oa(body: bytes, pmcid: str) -> OaRecord:
    """An ``oa.fcgi`` answer -> :class:`OaRecord` (``open_access=False`` on ``idIsNotOpenAccess``)."""
    root = parse_xml(body, "oa.fcgi")
    if root.tag != "OA":
        raise PmcFormatError(f"oa.fcgi: unexpected root <{root.tag}>")
    err = root.find("error")
    if err is not None:
        return OaRecord(pmcid=pmcid, open_access=False, error=f"{err.get('code')}: {(err.text or '').strip()}")
    rec = root.find("records/record")
    if rec is None:
        return OaRecord(pmcid=pmcid, open_access=False, error="no OA record")
    raw = rec.get("license")
    return OaRecord(
        pmcid=rec.get("id") or pmcid,
        open_access=True,
        license=licences.normalise(raw),
        license_raw=raw,
        citation=rec.get("citation"),
        retracted=rec.get("retracted") == "yes",
        links={ln.get("format"): ln.get("href") for ln in rec.iterfind("link") if ln.get("format")},
    )


def parse_efetch(body: bytes, *, figure_base: str = DEFAULT_FIGURE_BASE,
                 retrieved_at: str | None = None) -> list[tuple[str, list[RawItem]]]:
    """A ``pmc-articleset`` -> ``[(pmcid, [one RawItem per figure])]``, in document order.

    Licence comes from the article's ``<permissions>``; an article without a CC licence gets its
    figures (or one placeholder item, when it has none) with ``status="skipped"``; whether it is
    in the OA subset is decided later with :func:`apply_oa`.
    """
    root = parse_xml(body, "efetch")
    if root.tag == "eFetchResult":
        raise PmcFormatError(f"efetch error: {(root.findtext('ERROR') or '').strip()}")
    articles = [root] if root.tag == "article" else list(root.iterfind("article"))
    if root.tag not in ("pmc-articleset", "article"):
        raise PmcFormatError(f"efetch: unexpected root <{root.tag}>")
    when = retrieved_at or now_iso()
    out = []
    for art in articles:
        ids = article_ids(art)
        pmcid = ids.get("pmcid") or "PMC?"
        lic, lic_url = article_licence(art)
        credit = attribution(art, ids)
        items = []
        for n, fig in enumerate(art.iter("fig"), 1):
            graphic = next((g for g in fig.iter("graphic") if g.get("specific-use") != "thumbnail"), None)
            href = graphic.get(XLINK) if graphic is not None else None
            label = text_of(fig.find("label"))
            cap = caption(fig)
            text = f"{label} {cap}".strip() if label and not cap.startswith(label) else cap
            fig_id = fig.get("id") or f"fig{n}"
            status, error = "ok", None
            if not href:
                status, error = "error", "figure has no <graphic xlink:href>"
            items.append(RawItem(
                source=SOURCE, source_id=f"{pmcid}/{fig_id}", text=text or None,
                text_kind="caption" if text else None, license=lic, license_url=lic_url,
                attribution=credit, source_url=f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/#{fig_id}",
                retrieved_at=when, study_id=pmcid,
                meta={k: v for k, v in {
                    "file_url": figure_url(figure_base, pmcid, href) if href else None,
                    "graphic": href, "label": label, "pmid": ids.get("pmid"), "doi": ids.get("doi"),
                    "article_type": art.get("article-type"),
                }.items() if v},
                status=status, error=error,
            ))
        if not items:
            reason = "no <fig> in the article" if art.find("body") is not None else \
                "no full text in XML (publisher does not allow it)"
            items.append(RawItem(source=SOURCE, source_id=f"{pmcid}/-", license=lic, license_url=lic_url,
                                 attribution=credit, retrieved_at=when, study_id=pmcid,
                                 status="skipped", error=reason))
        out.append((pmcid, items))
    return out


def apply_oa(items: list[RawItem], oa: OaRecord, families: frozenset[str] | None = None) -> list[RawItem]:
    """Keep the figures only when the article is OA with a CC licence (and in ``families``)."""
    for it in items:
        if it.status != "ok":
            continue
        if it.license is None and oa.license:
            it.license, it.license_url = oa.license, licences.url_for(oa.license)
        it.meta["oa_license"] = oa.license_raw
        if not oa.open_access:
            it.status, it.error = "skipped", f"not in the PMC OA subset ({oa.error})"
        elif (oa.license_raw or "").strip().lower() == "none":
            # in the OA web service but with no reuse licence (e.g. the COVID-19 "other" collection):
            # NCBI's classification wins over any wording in the article
            it.status, it.error = "skipped", ('the PMC OA service lists no reuse licence (license="none"); '
                                              "not in the Creative Commons part of the OA subset")
        elif oa.retracted:
            it.status, it.error = "skipped", "article is retracted"
        elif not (licences.family(it.license) or "").startswith(("CC-", "CC0")):
            it.status, it.error = "skipped", f"licence {it.license!r} is not a Creative Commons licence"
        elif families is not None and not licences.allowed(it.license, families):
            it.status, it.error = "skipped", f"licence {it.license!r} not in --licences"
    return items


def pmcid_of(uid: str) -> str:
    """esearch ``db=pmc`` ids are bare numbers: ``9100001`` -> ``PMC9100001``."""
    uid = uid.strip()
    return uid if re.match(r"(?i)pmc", uid) else f"PMC{uid}"


# -- the API key: added at the last moment, never stored ------------------------------------------
def _with_param(url: str, key: str, value: str | None) -> str:
    parts = urlsplit(url)
    q = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != key]
    if value is not None:
        q.append((key, value))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))


def is_eutils(url: str, base_url: str) -> bool:
    """An E-utilities URL of exactly the base URL's origin (scheme, host, port): the only place the key goes."""
    path = urlsplit(url).path
    return same_origin(url, base_url) and (path == EUTILS_PATH or path.startswith(EUTILS_PATH + "/"))


class ApiKeyMiddleware:
    """Adds ``api_key`` to E-utilities requests just before they go out and strips it again from the
    request and the response, so the key never reaches the JOBDIR queue, retry copies or logs."""

    def __init__(self, crawler=None):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request, spider=None):
        spider = spider or getattr(self.crawler, "spider", None)
        key = getattr(spider, "api_key", None)
        if "api_key=" in request.url:   # e.g. a redirect Location that carried the key over: never forwarded
            request._set_url(_with_param(request.url, "api_key", None))
        if key is not None and is_eutils(request.url, spider.base_url):
            request._set_url(_with_param(request.url, "api_key", key.value))
            request.meta["_api_key"] = True
        return None

    def _strip(self, request) -> None:
        if request.meta.pop("_api_key", False):
            request._set_url(_with_param(request.url, "api_key", None))

    def process_response(self, request, response, spider=None):
        self._strip(request)
        if "api_key=" in response.url:
            response = response.replace(url=_with_param(response.url, "api_key", None))
        return response

    def process_exception(self, request, exception, spider=None):
        self._strip(request)
        return None


# -- the spider ------------------------------------------------------------------------------------
FORMAT_RETRIES = 3


class Spider(SourceSpider):
    """``--query`` an E-utilities term (``open access[filter]`` is added); options ``email``,
    ``licences``, ``batch``; ``NCBI_API_KEY`` / ``NCBI_EMAIL`` from the environment."""

    name = SOURCE
    credentials = ("NCBI_API_KEY",)
    option_names = ("email", "licences", "batch", "oa_filter")
    default_base_url = DEFAULT_BASE_URL
    robots_txt = False            # E-utilities are an API with its own usage policy (rate, tool/email)
    metadata_delay = 0.34         # 3 requests/s without a key (see update_settings for 10/s with one)
    download_rate = 3.0
    download_per_host = 2
    custom_settings = {"DOWNLOADER_MIDDLEWARES": {"crawlers.pmc.ApiKeyMiddleware": 650},
                       "CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    @classmethod
    def update_settings(cls, settings) -> None:
        super().update_settings(settings)
        if os.environ.get("NCBI_API_KEY") and settings.getfloat("DOWNLOAD_DELAY") > 0:
            settings.set("DOWNLOAD_DELAY", rate_delay("key"), priority="spider")

    @classmethod
    def check_options(cls, options: dict, query: str | None) -> None:
        try:
            if options.get("licences"):
                licences.parse_filter(options["licences"])
        except ValueError as err:
            raise UsageError(str(err)) from None
        if int(options.get("batch", BATCH)) < 1:
            raise UsageError("option batch must be >= 1")

    async def start(self):
        self.api_key = token("NCBI_API_KEY")
        self.email = self.options.get("email") or os.environ.get("NCBI_EMAIL")
        self.families = licences.parse_filter(self.options["licences"]) if self.options.get("licences") else None
        self.batch = int(self.options.get("batch", BATCH))
        local = self.base_url != DEFAULT_BASE_URL
        self.oa_base = self.base_url if local else DEFAULT_OA_BASE
        self.figure_base = self.base_url if local else DEFAULT_FIGURE_BASE
        term = self.query or "chest radiograph"
        if self.options.get("oa_filter", True) and "open access[filter]" not in term.lower():
            term = f"({term}) AND open access[filter]"
        yield scrapy.Request(esearch_url(self.base_url, term, email=self.email), callback=self.parse_search,
                             dont_filter=True)

    async def _again(self, response, err: Exception):
        tries = response.meta.get("format_tries", 0) + 1
        if tries > FORMAT_RETRIES:
            raise self.fatal(f"{urlsplit(response.url).path}: unreadable after {FORMAT_RETRIES} retries: {err}")
        await asyncio.sleep(0.5 * tries)
        return response.request.replace(meta={**response.meta, "format_tries": tries}, dont_filter=True)

    async def parse_search(self, response):
        try:
            res = parse_esearch(response.body)
        except PmcFormatError as err:
            yield await self._again(response, err)
            return
        self.count = res.count
        if res.count and res.webenv:
            yield self._efetch(res.webenv, res.query_key, 0)

    def _efetch(self, webenv: str, query_key: str, retstart: int) -> scrapy.Request:
        return scrapy.Request(efetch_url(self.base_url, webenv, query_key, retstart=retstart, retmax=self.batch,
                                         email=self.email), callback=self.parse_fetch, dont_filter=True,
                              cb_kwargs={"webenv": webenv, "query_key": query_key, "retstart": retstart})

    async def parse_fetch(self, response, webenv: str, query_key: str, retstart: int):
        try:
            articles = parse_efetch(response.body, figure_base=self.figure_base)
        except PmcFormatError as err:
            yield await self._again(response, err)
            return
        if not articles:   # past the end of the history set (or it expired): stop paging
            self.logger.warning("efetch returned no articles at retstart=%d of %d; paging stops", retstart, self.count)
            return
        for pmcid, items in articles:
            todo = [it for it in items if it.source_id not in self.done_ids]
            if not todo:
                continue
            if any(it.status == "ok" for it in todo):
                yield scrapy.Request(oa_url(self.oa_base, pmcid), callback=self.parse_oa, dont_filter=True,
                                     cb_kwargs={"pmcid": pmcid, "items": todo}, priority=10)
            else:
                for it in todo:
                    yield to_item(self, it)
        if retstart + self.batch < self.count and not self.exhausted:
            yield self._efetch(webenv, query_key, retstart + self.batch)

    async def parse_oa(self, response, pmcid: str, items: list):
        try:
            oa = parse_oa(response.body, pmcid)
        except PmcFormatError as err:
            yield await self._again(response, err)
            return
        for it in apply_oa(items, oa, self.families):
            url = it.meta.get("file_url") or ""
            item = to_item(self, it, path=f"{pmcid}/{safe_name(posixpath.basename(url), fallback='figure.jpg')}",
                           expect="image")
            if item is None:
                return
            yield item

"""Open-i (NLM image search API, https://openi.nlm.nih.gov): public, no key; reports/captions + MeSH for
Indiana chest X-rays (CC BY-NC-ND 4.0), PMC figures and MedPix images; licence per record.

Datasheet
---------
What it is
    A search API over millions of images: PubMed Central figures, the Indiana University chest
    X-ray collection (7,470 images with their radiology reports), MedPix teaching cases and others,
    run by the Lister Hill Center of the U.S. National Library of Medicine.
Access
    Public, no account, no key: ``GET /api/search?query=…&coll=…&m=<first>&n=<last>`` returns JSON
    (``total``, ``min``/``max``, ``list`` of image records: ``uid``, ``title``, ``authors``,
    ``abstract`` (HTML), ``image.caption`` (HTML), ``MeSH.major``/``MeSH.minor``, ``Problems``,
    ``ccLicense``/``licenseURL``, ``imgLarge`` etc.). Paging is 1-based and inclusive: ``m=1&n=100``,
    then ``m=101&n=200``. Images: ``GET <imgLarge>`` (a 512-px PNG) on the same host.
Collections (``coll``)
    ``cxr`` Indiana University chest X-rays (report per study: comparison, indication, findings,
    impression; CC BY-NC-ND 4.0), ``mpx`` MedPix cases, ``pmc`` PubMed Central figures (licence of
    each article, often CC BY / CC BY-NC), ``usc`` orthopaedic anatomy, ``hmd`` History of Medicine.
Licence
    Per record: ``ccLicense`` (codes such as ``byncnd``) and ``licenseURL``; when a record carries
    none, the collection's terms in :data:`COLLECTION_LICENCE` apply (MedPix: free for education and
    research with attribution — not a CC licence). A record with no licence at all is written with
    ``status="skipped"``. ``--licences`` keeps only the named families.
Rate limits
    None published; the crawl is polite by default (the engine's per-host limits, AutoThrottle,
    ``Retry-After`` honoured).
Citation
    Demner-Fushman D, Antani S, Simpson M, Thoma GR. Design and development of a multimodal
    biomedical information retrieval system. J Comput Sci Eng. 2012;6(2):168-177. Indiana
    collection: Demner-Fushman D et al. Preparing a collection of radiology examinations for
    distribution and retrieval. JAMIA 2016;23(2):304-310.

Items: one per image (``source_id`` = the image name, e.g. ``CXR1_1_IM-0001-3001``); ``text`` is the
radiology report for ``cxr`` records (``text_kind="report"``) and the figure caption otherwise;
``study_id`` is the Open-i document ``uid``; MeSH terms and problems go to ``meta``; for ``cxr`` the
manual MeSH coding also gives dataset labels (same mapping and image ids as the ``iu-xray`` importer).
"""

from __future__ import annotations

import asyncio
import json
import posixpath
from collections.abc import Iterable
from urllib.parse import urlencode, urljoin

import scrapy

from crawlers import licences
from crawlers.engine.integrity import safe_name
from crawlers.engine.spider import SourceSpider
from crawlers.importers.iu_xray import mesh_labels
from crawlers.webitems import to_item
from crawlers.webtext import html_paragraphs, html_text
from manifests.errors import UsageError
from manifests.raw import RawItem, now_iso
from manifests.registry import did_you_mean

SOURCE = "openi"
DEFAULT_BASE_URL = "https://openi.nlm.nih.gov"
COLLECTIONS = ("cxr", "mpx", "pmc", "usc", "hmd")
PAGE_SIZE = 100

#: Terms that apply when a record names no licence of its own.
COLLECTION_LICENCE: dict[str, tuple[str | None, str | None]] = {
    "cxr": ("CC-BY-NC-ND-4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/"),
    "mpx": ("MedPix-terms", "https://medpix.nlm.nih.gov/"),
    "pmc": (None, None),  # each article has its own licence; none means we do not know it
    "usc": (None, None),
    "hmd": (None, None),
}


class OpeniFormatError(ValueError):
    """The body is not an Open-i search response (an HTML error page, a truncated body...)."""


def search_url(base_url: str, *, query: str, coll: str, m: int, n: int, image_type: str | None = None) -> str:
    """``<base>/api/search?query=…&coll=…&m=…&n=…`` (``m``/``n``: 1-based inclusive range; ``it``:
    image type such as ``xg`` X-ray, ``mc`` microscopy, ``ph`` photo, ``gl`` graphics)."""
    params = {"query": query, "m": m, "n": n}
    if coll:
        params["coll"] = coll
    if image_type:
        params["it"] = image_type
    return f"{base_url.rstrip('/')}/api/search?{urlencode(params)}"


def report_text(abstract_html: str | None) -> str:
    """The Indiana report (``<p><b>Findings: </b>…</p>`` paragraphs) as ``Section: text`` lines."""
    return "\n".join(html_paragraphs(abstract_html))


def _sections(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        head, sep, body = line.partition(":")
        if sep and 0 < len(head) <= 40:
            out[head.strip().lower()] = body.strip()
    return out


def parse_search(body: bytes, *, base_url: str = DEFAULT_BASE_URL, coll: str = "cxr",
                 retrieved_at: str | None = None) -> tuple[list[RawItem], int]:
    """One search response -> (items, total hits). Raises :class:`OpeniFormatError` on a non-Open-i body."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OpeniFormatError(f"not an Open-i JSON response ({err}); starts {body[:60]!r}") from err
    if not isinstance(data, dict) or not isinstance(data.get("list", []), list):
        raise OpeniFormatError("Open-i response has no 'list' of records")
    total = int(data.get("total") or 0)
    when = retrieved_at or now_iso()
    items = [parse_record(rec, base_url=base_url, coll=coll, retrieved_at=when) for rec in data.get("list") or []]
    return items, total


def parse_record(rec: dict, *, base_url: str, coll: str, retrieved_at: str) -> RawItem:
    """One record of ``list`` -> a :class:`RawItem` (file not yet downloaded: ``meta['file_url']``)."""
    base = base_url.rstrip("/") + "/"
    img = rec.get("imgLarge") or ""
    image_name = posixpath.splitext(posixpath.basename(img))[0] or f"{rec.get('uid')}_{(rec.get('image') or {}).get('id')}"
    doc = (rec.get("docSource") or coll or "").lower()
    image = rec.get("image") or {}
    caption = html_text(image.get("caption"))
    is_report = rec.get("articleType") == "rr"
    paras = html_paragraphs(rec.get("abstract"))
    text = "\n".join(paras) if is_report else caption
    mesh = rec.get("MeSH") or {}
    problems = [p.strip() for p in str(rec.get("Problems") or "").split(";") if p.strip()]

    lic = licences.normalise(rec.get("ccLicense")) or licences.normalise(rec.get("licenseURL"))
    lic_url = rec.get("licenseURL") or licences.url_for(lic)
    if lic is None:
        lic, default_url = COLLECTION_LICENCE.get(doc, (None, None))
        lic_url = lic_url or default_url
    # licenseURL carries the version the code lacks ("byncnd" + .../by-nc-nd/4.0/)
    if lic and rec.get("licenseURL"):
        lic = licences.normalise(rec["licenseURL"]) or lic

    authors = (rec.get("authors") or "").strip()
    title = html_text(rec.get("title"))
    journal = (rec.get("journal_title") or "").strip()
    year = ((rec.get("journal_date") or {}).get("year") or "").strip()
    credit = ". ".join(x.rstrip(". ") for x in (authors, title, f"{journal} {year}".strip()) if x.rstrip(". "))
    attribution = f"{credit}. Via Open-i, U.S. National Library of Medicine" if credit else "Open-i, U.S. National Library of Medicine"

    detail = rec.get("detailedQueryURL")
    source_url = urljoin(base, detail) if detail else (rec.get("pmc_url") or rec.get("fulltext_html_url") or None)
    meta = {
        "file_url": urljoin(base, img.lstrip("/")) if img else None,
        "collection": doc,
        "uid": rec.get("uid"),
        "image_id": image.get("id"),
        "caption": caption,
        "mesh_major": list(mesh.get("major") or []),
        "mesh_minor": list(mesh.get("minor") or []),
        "problems": problems,
        "article_type": rec.get("articleType"),
        "modality_major": image.get("modalityMajor"),
        "pmid": rec.get("pmid"),
        "title": title,
    }
    if is_report:
        meta["sections"] = _sections(paras)
    elif paras:
        meta["abstract"] = "\n".join(paras)
    # the Indiana collection's MeSH major headings are a manual coding: dataset labels, mapped exactly as
    # the iu-xray importer maps them (one mapping for the same collection)
    labels = mesh_labels(";".join(mesh.get("major") or [])) if doc == "cxr" else {}
    status, error = "ok", None
    if not img:
        status, error = "error", "Open-i record has no imgLarge URL"
    elif lic is None:
        status, error = "skipped", "no licence in the Open-i record or for its collection"
    return RawItem(
        source=SOURCE,
        source_id=image_name,
        text=text or None,
        text_kind=("report" if is_report else "caption") if text else None,
        license=lic,
        license_url=lic_url,
        attribution=attribution,
        source_url=source_url,
        retrieved_at=retrieved_at,
        study_id=rec.get("uid"),
        body_part="chest" if doc == "cxr" else None,
        labels=labels,
        label_source="dataset" if labels else None,
        meta={k: v for k, v in meta.items() if v not in (None, "", [], {})},
        status=status,
        error=error,
    )


def next_range(m: int, n: int, total: int, *, wanted: int | None) -> tuple[int, int] | None:
    """The next ``(m, n)`` page after ``m..n``, or ``None`` when ``total`` or ``wanted`` is reached."""
    got = n
    if got >= total or (wanted is not None and got >= wanted):
        return None
    size = n - m + 1
    last = min(total, n + size)
    if wanted is not None:
        last = min(last, wanted)
    return n + 1, last


def keep(items: Iterable[RawItem], families: frozenset[str] | None) -> list[RawItem]:
    """Items whose licence is in ``families`` (all items when ``families`` is None)."""
    out = []
    for it in items:
        if families is not None and it.status == "ok" and not licences.allowed(it.license, families):
            it.status, it.error = "skipped", f"licence {it.license!r} not in --licences"
        out.append(it)
    return out


# -- the spider ------------------------------------------------------------------------------------


class Spider(SourceSpider):
    """``--query`` (default ``chest``), options ``collection`` (default ``cxr``), ``image_type`` (Open-i
    ``it``: xg, mc, ph, gl…), ``licences``, ``page_size``."""

    name = SOURCE
    option_names = ("collection", "image_type", "licences", "page_size")
    default_base_url = DEFAULT_BASE_URL
    robots_txt = False          # a JSON API, not pages for crawlers: API etiquette (rate, back-off) applies
    metadata_delay = 1.0
    download_rate = 2.0

    @classmethod
    def check_options(cls, options: dict, query: str | None) -> None:
        coll = options.get("collection", "cxr")
        if coll not in COLLECTIONS:
            raise UsageError(f"unknown Open-i collection '{coll}'{did_you_mean(coll, COLLECTIONS)}")
        try:
            if options.get("licences"):
                licences.parse_filter(options["licences"])
        except ValueError as err:
            raise UsageError(str(err)) from None

    async def start(self):
        self.coll = self.options.get("collection", "cxr")
        self.families = licences.parse_filter(self.options["licences"]) if self.options.get("licences") else None
        size = int(self.options.get("page_size", PAGE_SIZE))
        last = size if self.limit is None else max(1, min(size, self.limit))
        yield self._page(1, last)

    def _page(self, m: int, n: int) -> scrapy.Request:
        url = search_url(self.base_url, query=self.query or "chest", coll=self.coll, m=m, n=n,
                         image_type=self.options.get("image_type"))
        return scrapy.Request(url, callback=self.parse, cb_kwargs={"m": m, "n": n}, dont_filter=True)

    async def parse(self, response, m: int = 1, n: int = PAGE_SIZE):
        try:
            items, total = parse_search(response.body, base_url=self.base_url, coll=self.coll)
        except OpeniFormatError as err:
            # a whole page is unreadable (HTML error page with 200...): retry it, then give up loudly
            retries = response.meta.get("format_retries", 0)
            if retries < 3:
                await asyncio.sleep(0.5 * (retries + 1))
                yield response.request.replace(meta={**response.meta, "format_retries": retries + 1})
                return
            raise self.fatal(f"Open-i search page m={m} unreadable after retries: {err}") from err
        for raw in keep(items, self.families):
            if raw.source_id in self.done_ids:
                continue
            path = f"{self.coll}/{safe_name(posixpath.basename(raw.meta.get('file_url', '')), fallback=raw.source_id)}"
            item = to_item(self, raw, path=path, expect="image")
            if item is None:
                return
            yield item
        nxt = next_range(m, n, total, wanted=None)
        if nxt and not self.exhausted:
            yield self._page(*nxt)

"""MedPix (NLM teaching cases, https://medpix.nlm.nih.gov): public site built in JavaScript, crawled with
headless Chromium; free for education/research with attribution (MedPix terms, not a CC licence).

Datasheet
---------
What it is
    Peer-reviewed teaching cases (radiology mostly, also pathology and clinical photographs), each
    with history, findings, differential diagnosis, diagnosis and captioned images; maintained by
    the U.S. National Library of Medicine.
Access
    Public web site, no account. The site is a JavaScript application: the HTML it serves is an
    empty shell and the case content is built in the browser, so this is the one source crawled
    with a real headless Chromium (``crawlers.browser.BrowserMiddleware``, requests flagged
    ``meta={"browser": True}``). Search page ``/search?allen=true&allt=true&alli=true&query=…``
    lists cases (``a.case-link`` → ``/case?id=<uuid>``); each case page is rendered and parsed
    (title, history, findings, differential, diagnosis, images with caption, modality and plane,
    the licence link). Images are plain files (``/images/full/synpicNNNN.jpg``) fetched without a
    browser. (MedPix images are also indexed by Open-i, collection ``mpx`` — see ``crawlers.openi``.)
Licence
    MedPix content is provided by NLM for education and research with attribution to MedPix and
    the case author; it is not a Creative Commons licence. The licence link on the case page is
    recorded (``license``/``license_url``); when the page shows none, ``MedPix-terms``.
Rate limits
    None published; one browser page at a time, plus the engine's polite per-host limits.
Citation
    MedPix®, U.S. National Library of Medicine, https://medpix.nlm.nih.gov — and the case author.

Items: one per case image (``source_id`` = the MedPix image id, e.g. ``synpic46283``); ``text`` =
the case's History, Exam, Findings and Diagnosis and the image's Caption (``text_kind="report"``);
the image's caption, modality, plane, ACR codes, figure part and location, and the case's title,
differential, diagnosis basis, treatment, discussion and topic (disease discussion, ACR code,
category) go to ``meta`` — the fields the MedPix 2.0 release shows a case holds, named as its
importer names them (:mod:`crawlers.medpix_case`); ``study_id`` = the case id. Offline, the same
content comes from the MedPix 2.0 JSON release: ``medharvest import medpix2``.
"""

from __future__ import annotations

import posixpath
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import scrapy
from bs4 import BeautifulSoup

from crawlers import licences
from crawlers.browser import missing_browser
from crawlers.engine.integrity import safe_name
from crawlers.engine.spider import SourceSpider
from crawlers.medpix_case import acr, case_text, clean, modality_code
from crawlers.webitems import to_item
from crawlers.webtext import html_text
from manifests.errors import UsageError
from manifests.raw import RawItem, now_iso

SOURCE = "medpix"
DEFAULT_BASE_URL = "https://medpix.nlm.nih.gov"
DEFAULT_LICENCE = ("MedPix-terms", "https://medpix.nlm.nih.gov/")
CASE_SELECTOR = "article#case"        # present once a case page has rendered
CASE_WAIT = "article#case, #app .error"   # rendered case, or the app's error message
SEARCH_SELECTOR = "ul#results"        # present once a search page has rendered
SEARCH_WAIT = "ul#results, #app .error"


def search_url(base_url: str, query: str) -> str:
    q = {"allen": "true", "allt": "true", "alli": "true", "query": query}
    return f"{base_url.rstrip('/')}/search?{urlencode(q)}"


def parse_search(body: bytes | str, url: str) -> list[str]:
    """A rendered search page -> absolute case URLs, in page order, without duplicates."""
    soup = BeautifulSoup(body, "html.parser")
    out: list[str] = []
    for a in soup.select("a.case-link[href]"):
        u = urljoin(url, a["href"])
        if u not in out:
            out.append(u)
    return out


def case_id(url: str) -> str | None:
    return (parse_qs(urlsplit(url).query).get("id") or [None])[0]


_HEADINGS = {"history": ("history",), "exam": ("exam", "physical exam"), "findings": ("findings",),
             "ddx": ("differential diagnosis", "ddx"), "diagnosis": ("case diagnosis", "diagnosis", "final diagnosis"),
             "diagnosis-by": ("diagnosis by",), "treatment": ("treatment & follow up", "treatment and follow up"),
             "discussion": ("discussion",)}
#: section id on the page -> our key (the MedPix 2.0 release names the same fields, see crawlers.medpix_case)
_CASE_SECTIONS = (("history", "history"), ("exam", "exam"), ("findings", "findings"), ("ddx", "differential"),
                  ("diagnosis", "diagnosis"), ("diagnosis-by", "diagnosis_by"), ("treatment", "treatment"),
                  ("discussion", "discussion"))
_FIGURE_FIELDS = (("figcaption", "caption"), (".modality", "modality_name"), (".plane", "plane"),
                  (".acr-codes", "acr_codes"), (".figure-part", "figure_part"), (".location", "location"),
                  (".location-category", "location_category"))


def _section(soup: BeautifulSoup, sid: str) -> str:
    """A case section by id, else by its heading text (``<h3>Findings</h3><p>…</p>``)."""
    sec = soup.select_one(f"section#{sid} .section-body") or soup.select_one(f"section#{sid}")
    if sec is not None:
        return html_text(str(sec))
    names = _HEADINGS.get(sid, (sid,))
    for head in soup.find_all(["h1", "h2", "h3", "h4", "dt", "strong", "b"]):
        label = html_text(str(head)).rstrip(":").strip().lower()
        if label in names:
            parts = []
            for sib in head.find_next_siblings():
                if sib.name in ("h1", "h2", "h3", "h4", "dt") or sib.find(["h1", "h2", "h3", "h4"]):
                    break
                parts.append(html_text(str(sib)))
            text = " ".join(p for p in parts if p)
            if not text and head.next_sibling is not None and isinstance(head.next_sibling, str):
                text = " ".join(head.next_sibling.split())
            if text:
                return text
    return ""


def parse_case(body: bytes | str, url: str, *, retrieved_at: str | None = None) -> list[RawItem]:
    """A rendered case page -> one :class:`RawItem` per image (``meta['file_url']`` to fetch).

    A page without the rendered case (an error message, a timeout) gives one ``status="error"``
    item keyed by the case id, so the failure is recorded rather than lost.
    """
    when = retrieved_at or now_iso()
    soup = BeautifulSoup(body, "html.parser")
    art = soup.select_one(CASE_SELECTOR)
    cid = (art.get("data-case-id") if art is not None else None) or case_id(url) or url
    if art is None:
        err = soup.select_one(".error")
        why = html_text(str(err)) if err is not None else "the case content did not render"
        return [RawItem(source=SOURCE, source_id=f"case-{cid}", source_url=url, retrieved_at=when,
                        study_id=cid, status="error", error=why)]
    title = html_text(str(art.select_one(".case-title") or ""))
    parts = {key: clean(_section(art, sid)) for sid, key in _CASE_SECTIONS}
    topic = art.select_one("section#topic")
    if topic is not None:
        for sel, key in ((".topic-title", "topic_title"), (".disease-discussion", "disease_discussion"),
                         (".acr-code", "topic_acr_code"), (".category", "category")):
            parts[key] = clean(html_text(str(topic.select_one(sel) or "")))
    lic_a = art.select_one('a[rel~="license"]')
    lic_name = html_text(str(lic_a)) if lic_a is not None else ""
    lic_url = urljoin(url, lic_a["href"]) if lic_a is not None and lic_a.get("href") else None
    lic = licences.normalise(lic_url) or licences.normalise(lic_name)
    if lic is None:
        lic = DEFAULT_LICENCE[0]
        lic_url = lic_url or DEFAULT_LICENCE[1]
    author = html_text(str(art.select_one(".author") or ""))
    attribution = "; ".join(x for x in (author, "MedPix®, U.S. National Library of Medicine") if x)
    items = []
    case_meta = {k: v for k, v in parts.items() if k not in ("history", "exam", "findings") and v}
    for n, fig in enumerate(art.select("figure.case-image"), 1):
        img = fig.select_one("img[src]")
        iid = fig.get("data-image-id") or f"{cid}-{n}"
        image = {key: clean(html_text(str(fig.select_one(sel) or ""))) for sel, key in _FIGURE_FIELDS}
        text = case_text({**parts, "caption": image["caption"]})
        items.append(RawItem(
            source=SOURCE, source_id=iid, text=text or None, text_kind="report" if text else None,
            license=lic, license_url=lic_url, attribution=attribution, source_url=url,
            retrieved_at=when, study_id=cid, modality=modality_code(image["modality_name"]),
            body_part=image["location"] or None, view=image["plane"].upper() or None,
            meta={k: v for k, v in {
                "file_url": urljoin(url, img["src"]) if img is not None else None,
                "title": title,
                **case_meta,
                **image,
                "acr": acr(image["acr_codes"]), "topic_acr": acr(parts.get("topic_acr_code")),
                "license_name": lic_name,
            }.items() if v},
            status="ok" if img is not None else "error",
            error=None if img is not None else "figure has no <img src>",
        ))
    if not items:
        text = case_text(parts)
        items.append(RawItem(source=SOURCE, source_id=f"case-{cid}", text=text or None, source_url=url,
                             retrieved_at=when, study_id=cid, status="skipped", error="case has no images"))
    return items


# -- the spider ------------------------------------------------------------------------------------
class Spider(SourceSpider):
    """``--query`` search words; options ``licences``, ``browser_timeout`` (seconds, default 20).
    Binaries: ``/usr/bin/chromium`` + ``/usr/bin/chromedriver`` or env ``MEDHARVEST_CHROMIUM`` /
    ``MEDHARVEST_CHROMEDRIVER``."""

    name = SOURCE
    option_names = ("licences", "browser_timeout")
    default_base_url = DEFAULT_BASE_URL
    metadata_delay = 2.0          # one rendered page every ~2 s on the real site
    download_rate = 2.0
    download_per_host = 2
    custom_settings = {"DOWNLOADER_MIDDLEWARES": {"crawlers.browser.BrowserMiddleware": 700}}

    @classmethod
    def check_options(cls, options: dict, query: str | None) -> None:
        why = missing_browser()
        if why:
            raise UsageError(f"medpix: {why}")
        try:
            if options.get("licences"):
                licences.parse_filter(options["licences"])
        except ValueError as err:
            raise UsageError(str(err)) from None

    def _browser(self, url: str, wait: str, callback) -> scrapy.Request:
        meta = {"browser": True, "browser_wait": wait, "dont_retry": True, "handle_httpstatus_list": [502, 504]}
        if self.options.get("browser_timeout"):
            meta["browser_timeout"] = float(self.options["browser_timeout"])
        return scrapy.Request(url, callback=callback, meta=meta, dont_filter=True)

    async def start(self):
        self.families = licences.parse_filter(self.options["licences"]) if self.options.get("licences") else None
        yield self._browser(search_url(self.base_url, self.query or "chest"), SEARCH_WAIT, self.parse_results)

    async def parse_results(self, response):
        if response.status != 200 or response.css("#app .error"):
            raise self.fatal(f"MedPix search page did not render: {response.meta.get('browser_error') or 'error shown'}")
        for url in parse_search(response.body, response.url):
            if self.exhausted:
                return
            yield self._browser(url, CASE_WAIT, self.parse_case_page)

    async def parse_case_page(self, response):
        items = parse_case(response.body, response.request.url)
        for raw in items:
            if raw.status == "error" and response.meta.get("browser_error"):
                raw.error = response.meta["browser_error"]
            if raw.source_id in self.done_ids:
                continue
            if raw.status == "ok" and self.families is not None and not licences.allowed(raw.license, self.families):
                raw.status, raw.error = "skipped", f"licence {raw.license!r} not in --licences"
            name = safe_name(posixpath.basename(urlsplit(raw.meta.get("file_url", "")).path), fallback=raw.source_id)
            item = to_item(self, raw, path=f"{safe_name(raw.study_id or 'case')}/{name}", expect="image")
            if item is None:
                return
            yield item

"""JATS (the NLM article XML that PMC serves) -> what a figure-caption pair needs.

Pure functions over a parsed ``<article>``: ids (``pmcid``/``pmc``, ``pmid``, ``doi``), the licence from
``<permissions>`` (``<ali:license_ref>``, ``<license xlink:href>``, an ``<ext-link>`` in the licence text,
or ``license-type``), an attribution line (authors, title, journal, year, DOI) and figure captions
(``<caption>`` title + paragraphs). XML is parsed with defusedxml: no entity expansion, no external DTD.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from crawlers import licences

XLINK = "{http://www.w3.org/1999/xlink}href"
ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"


class XmlFormatError(ValueError):
    """A body that is not the expected XML (an HTML error page, a truncated body, an entity bomb...)."""


def parse_xml(body: bytes, what: str) -> Element:
    try:
        return SafeET.fromstring(body)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as err:
        raise XmlFormatError(f"{what}: not XML ({err}); starts {body[:60]!r}") from err


def text_of(el: Element | None) -> str:
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def caption(fig: Element) -> str:
    cap = fig.find("caption")
    if cap is None:
        return ""
    parts = [text_of(cap.find("title"))] + [text_of(p) for p in cap.iterfind("p")]
    return " ".join(p for p in parts if p) or text_of(cap)


def article_licence(article: Element) -> tuple[str | None, str | None]:
    """(normalised licence, licence URL) from ``<permissions>``; ``(None, None)`` when absent.

    Structured statements first (``<ali:license_ref>``, ``xlink:href``, an ``<ext-link>``, a
    ``license-type`` naming a licence), then the prose of ``<license-p>`` and of the
    ``<copyright-statement>`` (PLoS: "distributed under the terms of the Creative Commons
    Attribution License", no link; NLM 2.x puts the statement straight in ``<article-meta>``).
    """
    meta = article.find("front/article-meta")
    perm = meta.find("permissions") if meta is not None else None
    if perm is None:
        perm = meta
    if perm is None:
        return None, None
    for lic in perm.iterfind("license"):
        candidates = [(lic.findtext(ALI_LICENSE_REF) or "").strip(), lic.get(XLINK) or ""]
        candidates += [x.get(XLINK) or "" for x in lic.iter("ext-link")]
        for url in candidates:
            name = licences.normalise(url)
            if name:
                return name, url
        name = licences.normalise(lic.get("license-type"))
        if name:
            return name, licences.url_for(name)
    for el in [*perm.iterfind("license"), *perm.iterfind("copyright-statement")]:
        name = licences.from_text(text_of(el))
        if name:
            return name, licences.url_for(name)
    return None, None


def article_ids(article: Element) -> dict[str, str]:
    out = {}
    for el in article.iterfind("front/article-meta/article-id"):
        kind = el.get("pub-id-type")
        if kind and el.text:
            out[kind] = el.text.strip()
    pmcid = out.get("pmcid") or out.get("pmc")
    if pmcid and not pmcid.upper().startswith("PMC"):
        pmcid = "PMC" + pmcid
    if pmcid:
        out["pmcid"] = pmcid
    return out


def attribution(article: Element, ids: dict[str, str]) -> str:
    meta = article.find("front/article-meta")
    names = []
    for c in meta.iterfind("contrib-group/contrib[@contrib-type='author']") if meta is not None else []:
        sur, given = c.findtext("name/surname"), c.findtext("name/given-names")
        if sur:
            initials = "".join(w[0] for w in re.split(r"[\s-]+", given or "") if w)   # "Ing-Nang" -> "IN"
            names.append(f"{sur} {initials}".strip())
        elif c.findtext("collab"):
            names.append(text_of(c.find("collab")))
    authors = ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")
    title = text_of(meta.find("title-group/article-title")) if meta is not None else ""
    journal = text_of(article.find("front/journal-meta/journal-title-group/journal-title"))
    year = (meta.findtext("pub-date/year") if meta is not None else None) or ""
    parts = [authors, title.rstrip("."), f"{journal} {year}".strip()]
    doi = ids.get("doi")
    line = ". ".join(p for p in parts if p)
    return f"{line}. doi:{doi}" if doi else line

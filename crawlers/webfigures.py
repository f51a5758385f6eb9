"""An HTML page -> its figures (image URL, caption, alt, nearby paragraph), its licence and its links.

Pure functions (bytes in, dataclasses out) used by the ``web`` source; tested without a server.

* Image URL: the largest ``srcset`` / ``data-srcset`` candidate (``w`` descriptors, else ``x``
  densities; ``<picture><source srcset>`` too), else a lazy-loading attribute (``data-src``,
  ``data-lazy-src``, ``data-original``, ``data-full-src``), else ``src``; resolved against
  ``<base href>`` and the page URL; ``data:`` placeholders are never the image.
* Text: ``<figcaption>`` of the enclosing ``<figure>`` (HTML stripped; else a caption-class element
  beside the image, :data:`CAPTION_CSS`, e.g. Wikipedia infoboxes, WordPress), the ``alt`` text, and the
  nearest paragraph (the ``<p>`` holding the image, else the one before the figure, else after).
* Licence: a ``rel="license"`` link or anchor (a figure's own one wins over the page's), else a
  Creative Commons licence link anywhere on the page; normalised with :mod:`crawlers.licences`.
* Wikipedia / MediaWiki: an image linked to a ``/wiki/File:`` page (or served from
  ``upload.wikimedia.org/wikipedia/commons/``) carries its Commons file title; its licence is the
  file's own, never the page's (the page licence covers the article text).
* Decoration (:func:`decoration`): ``role="presentation"``/``none``, ``aria-hidden``, an empty alt
  with no caption, icon/logo/sprite words in the image path, class or id, a declared width or height
  under ``min_side``, SVG and ``data:`` URIs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from parsel import Selector

from crawlers import licences
from crawlers.engine.integrity import safe_name
from crawlers.webtext import html_text

#: Caption elements of common page builders, used when an image has no ``<figcaption>``.
CAPTION_CSS = ".thumbcaption, .infobox-caption, .wp-caption-text, .gallerytext, .image-caption, .caption"
LAZY_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-full-src", "data-lazy")
SRCSET_ATTRS = ("srcset", "data-srcset", "data-lazy-srcset")
#: Words that mark site chrome in an image's file name, class or id.
DECOR_WORDS = re.compile(r"(?:^|[^a-z])(logo|icon|favicon|sprite|spacer|pixel|badge|avatar|emoji|button|banner|social)s?(?:[^a-z]|$)")
_COMMONS_SRC = re.compile(r"/wikipedia/commons/(?:thumb/)?[0-9a-f]/[0-9a-f]{2}/([^/]+)")
_FILE_PAGE = re.compile(r"/wiki/(?:File|Image):(.+)$")


@dataclasses.dataclass
class Figure:
    """One image occurrence on one page."""

    page_url: str
    image_url: str
    alt: str = ""
    caption: str = ""
    context: str = ""
    width: int | None = None            # declared in the markup
    height: int | None = None
    role: str = ""
    aria_hidden: bool = False
    hints: str = ""                     # class + id of the image and its link, for decoration words
    licence: str | None = None          # the figure's own licence link, normalised
    licence_url: str | None = None
    commons_title: str | None = None    # "File:X.jpg" when the image is a Commons file
    chosen_from: str = "src"            # srcset | data-src | src ...

    @property
    def text(self) -> str:
        return self.caption or self.alt


@dataclasses.dataclass
class Page:
    url: str
    title: str
    figures: list[Figure]
    links: list[str]
    licence: str | None = None
    licence_url: str | None = None
    licence_from: str | None = None     # rel=license | cc-link


def _int(v: str | None) -> int | None:
    m = re.match(r"\s*(\d+)", v or "")
    return int(m.group(1)) if m else None


def parse_srcset(value: str) -> list[tuple[str, float, str]]:
    """``"a.jpg 480w, b.jpg 1080w"`` -> ``[(url, number, "w"|"x"), ...]`` (no descriptor: 1x)."""
    out = []
    for part in re.split(r",\s+(?=\S)", value.strip()):
        bits = part.strip().split()
        if not bits or bits[0].startswith("data:"):
            continue
        desc = bits[1] if len(bits) > 1 else "1x"
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([wx])", desc)
        if m:
            out.append((bits[0].rstrip(","), float(m.group(1)), m.group(2)))
    return out


def largest(cands: list[tuple[str, float, str]]) -> str | None:
    """The widest ``w`` candidate, else the densest ``x`` one."""
    for unit in ("w", "x"):
        of = [c for c in cands if c[2] == unit]
        if of:
            return max(of, key=lambda c: c[1])[0]
    return None


def _licence_of(sel: Selector, base: str, *, page: bool = False) -> tuple[str | None, str | None, str | None]:
    """(licence, url, how) of a page (links inside a ``<figure>`` are the figure's, not the page's) or a figure."""
    own = "[not(ancestor::figure)]" if page else ""
    for how, hrefs in (("rel=license", sel.xpath(".//*[self::a or self::link][contains(concat(' ', normalize-space(@rel), ' '), "
                                                 f"' license ')]{own}/@href").getall()),
                       ("cc-link", sel.xpath(f".//a[contains(@href, 'creativecommons.org/')]{own}/@href").getall())):
        for href in hrefs:
            url = urljoin(base, href.strip())
            name = licences.normalise(url)
            if name:
                return name, url, how
    return None, None, None


def _image_url(img: Selector, base: str) -> tuple[str | None, str]:
    cands: list[tuple[str, float, str]] = []
    for attr in SRCSET_ATTRS:
        cands += parse_srcset(img.attrib.get(attr, ""))
    for source in img.xpath("parent::picture/source"):
        for attr in SRCSET_ATTRS:
            cands += parse_srcset(source.attrib.get(attr, ""))
    url, how = largest(cands), "srcset"
    if not url:
        for attr in LAZY_ATTRS:
            v = (img.attrib.get(attr) or "").strip()
            if v and not v.startswith("data:"):
                url, how = v, attr
                break
    if not url:
        v = (img.attrib.get("src") or "").strip()
        url, how = (v, "src") if v and not v.startswith("data:") else (None, "data-uri" if v else "none")
    return (urldefrag(urljoin(base, url))[0] if url else None), how


def _context(img: Selector, fig: Selector | None) -> str:
    if fig is None:
        hit = img.xpath("ancestor::p[1]")
        if hit:
            return html_text(hit[0].get())
    anchor = fig if fig is not None else img
    for xp in ("preceding::p[1]", "following::p[1]"):
        hit = anchor.xpath(xp)
        if hit and not hit[0].xpath("ancestor::figure"):
            return html_text(hit[0].get())
    return ""


def _commons_title(img: Selector, image_url: str, base: str) -> str | None:
    href = img.xpath("ancestor::a[1]/@href").get()
    if href:
        m = _FILE_PAGE.search(urlsplit(urljoin(base, href)).path)
        if m:
            return "File:" + unquote(m.group(1)).replace("_", " ")
    m = _COMMONS_SRC.search(urlsplit(image_url).path)
    return "File:" + unquote(m.group(1)).replace("_", " ") if m else None


def _scopes(sel: Selector, css: str | None, xpath: str | None) -> list[Selector]:
    if css:
        return list(sel.css(css))
    if xpath:
        return list(sel.xpath(xpath))
    return [sel]


def _caption(img: Selector, fig: Selector | None, caption_css: str) -> str:
    """The ``<figcaption>``, else a caption-class element beside the image in a container (up to three
    levels up) that holds no other image: MediaWiki's ``thumbcaption`` / ``infobox-caption``,
    WordPress's ``wp-caption-text`` ... (``caption_css``)."""
    if fig is not None:
        cap = fig.xpath(".//figcaption")
        if cap:
            return html_text(cap[0].get())
    if not caption_css:
        return ""
    for anc in reversed(img.xpath("ancestor::*[position() <= 3]")):        # nearest container first
        if len(anc.xpath(".//img")) > 1:
            return ""
        hit = anc.css(caption_css)
        if hit:
            return html_text(hit[0].get())
    return ""


def parse_page(body: bytes | str, url: str, *, content_css: str | None = None, content_xpath: str | None = None,
               follow_css: str | None = None, follow_xpath: str | None = None,
               caption_css: str = CAPTION_CSS) -> Page:
    """Figures (inside the content scope), links (inside the follow scope) and licence of one page."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    sel = Selector(text=text)
    base = urljoin(url, (sel.xpath("//base/@href").get() or "").strip())
    page_lic, page_lic_url, how = _licence_of(sel, base, page=True)
    figures: list[Figure] = []
    seen: set[str] = set()
    for scope in _scopes(sel, content_css, content_xpath):
        for img in scope.xpath(".//img"):
            image_url, chosen = _image_url(img, base)
            if not image_url or not image_url.startswith(("http://", "https://")) or image_url in seen:
                continue
            seen.add(image_url)
            fig_hit = img.xpath("ancestor::figure[1]")
            fig = fig_hit[0] if fig_hit else None
            lic, lic_url, _ = _licence_of(fig, base) if fig is not None else (None, None, None)
            link = img.xpath("ancestor::a[1]")
            hints = " ".join(filter(None, [img.attrib.get("class"), img.attrib.get("id"),
                                           link[0].attrib.get("class") if link else None]))
            figures.append(Figure(
                page_url=url, image_url=image_url, alt=" ".join((img.attrib.get("alt") or "").split()),
                caption=_caption(img, fig, caption_css), context=_context(img, fig),
                width=_int(img.attrib.get("width")), height=_int(img.attrib.get("height")),
                role=(img.attrib.get("role") or "").strip().lower(),
                aria_hidden=(img.attrib.get("aria-hidden") or "").strip().lower() == "true",
                hints=hints, licence=lic, licence_url=lic_url, commons_title=_commons_title(img, image_url, base),
                chosen_from=chosen,
            ))
    links = []
    for scope in _scopes(sel, follow_css, follow_xpath):
        for href in scope.xpath(".//a/@href").getall():
            link = urldefrag(urljoin(base, href.strip()))[0]
            if link.startswith(("http://", "https://")) and link not in links:
                links.append(link)
    title = " ".join((sel.xpath("//title/text()").get() or "").split())
    return Page(url, title, figures, links, page_lic, page_lic_url, how)


def decoration(fig: Figure, *, min_side: int) -> str | None:
    """Why ``fig`` is site decoration rather than content (None: keep it)."""
    if fig.role in ("presentation", "none"):
        return f'role="{fig.role}"'
    if fig.aria_hidden:
        return 'aria-hidden="true"'
    if not fig.alt and not fig.caption:
        return "empty alt text and no caption"
    path = unquote(urlsplit(fig.image_url).path).lower()
    name = path.rsplit("/", 1)[-1]
    alt_word = re.search(r"\b(logo|icon)s?\b", fig.alt.lower())
    if alt_word:
        return f"'{alt_word.group(1)}' in the alt text"
    for where, value in (("image path", path), ("class/id", fig.hints.lower())):
        m = DECOR_WORDS.search(value)
        if m:
            return f"'{m.group(1)}' in the {where}"
    if name.endswith((".svg", ".svgz", ".ico")):
        return "vector or icon file"
    for side, v in (("width", fig.width), ("height", fig.height)):
        if v is not None and v < min_side:
            return f"declared {side} {v} px < {min_side}"
    return None


def parse_sitemap(body: bytes) -> tuple[list[str], list[str]]:
    """``(page URLs, nested sitemap URLs)`` of a sitemap or sitemap index (gzip accepted)."""
    from scrapy.utils.gz import gunzip
    from scrapy.utils.sitemap import Sitemap

    if body[:2] == b"\x1f\x8b":
        body = gunzip(body)
    sm = Sitemap(body)
    locs = [e["loc"].strip() for e in sm if e.get("loc")]
    return (locs, []) if sm.type != "sitemapindex" else ([], locs)


def listify(v) -> list[str]:
    """An option given as a list or a comma-separated string -> list of non-empty strings."""
    if v is None:
        return []
    return [s.strip() for s in (v.split(",") if isinstance(v, str) else v) if str(s).strip()]


def source_id(image_url: str) -> str:
    """The web source's item id: the image URL without scheme and port (``host/path?query``)."""
    u = urlsplit(image_url)
    return (u.hostname or "") + u.path + (f"?{u.query}" if u.query else "")


def file_path(image_url: str) -> str:
    """Where the image goes under ``files/``: ``<host>/<sha1 of the URL, 10 hex>_<file name>``."""
    u = urlsplit(image_url)
    digest = hashlib.sha1(image_url.encode()).hexdigest()[:10]
    return f"{safe_name(u.netloc, fallback='host')}/{digest}_{safe_name(u.path.rsplit('/', 1)[-1], fallback='image')}"


def commons_key(title: str) -> str:
    """A Commons file title as the API normalises it (no namespace, spaces, first letter upper)."""
    name = title.split(":", 1)[-1].replace("_", " ").strip()
    return name[:1].upper() + name[1:]

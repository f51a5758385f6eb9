"""HTML fragments (captions, descriptions, report paragraphs) -> plain text for ``RawItem.text``."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag

_BLOCKS = ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "dd", "dt")


def _soup(fragment: str) -> BeautifulSoup:
    soup = BeautifulSoup(fragment, "lxml")
    for tag in soup.find_all(["script", "style"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(" ")
    for block in soup.find_all(_BLOCKS):
        block.append(" ")
    return soup


def _text(el: Tag) -> str:
    return " ".join(el.get_text("").split())


def html_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment: inline tags joined without spurious spaces, whitespace collapsed."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:  # plain text: no parser needed
        return " ".join(fragment.split())
    return _text(_soup(fragment))


def html_paragraphs(fragment: str | None) -> list[str]:
    """One plain-text line per ``<p>`` (or the whole fragment when it has none)."""
    if not fragment:
        return []
    soup = _soup(fragment)
    paras = soup.find_all("p") or [soup]
    return [line for line in (_text(p) for p in paras) if line]

"""HTML fragments (captions, descriptions, report paragraphs) -> plain text for ``RawItem.text``."""

from __future__ import annotations

from bs4 import BeautifulSoup

_BLOCKS = ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "dd", "dt")


def html_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment: inline tags joined without spurious spaces, whitespace collapsed."""
    if not fragment:
        return ""
    soup = BeautifulSoup(fragment, "html.parser")
    for tag in soup.find_all(["script", "style"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(" ")
    for block in soup.find_all(_BLOCKS):
        block.append(" ")
    return " ".join(soup.get_text("").split())


def html_paragraphs(fragment: str | None) -> list[str]:
    """One plain-text line per ``<p>`` (or the whole fragment when it has none)."""
    if not fragment:
        return []
    soup = BeautifulSoup(fragment, "html.parser")
    paras = soup.find_all("p") or [soup]
    return [line for line in (html_text(str(p)) for p in paras) if line]

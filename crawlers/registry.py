"""The sources ``medharvest crawl`` knows: name -> module path (imported only when used).

Each module holds one Scrapy spider (``Spider``, ``name`` = the key) and its datasheet docstring;
the first paragraph of the docstring (or a ``TERMS`` constant) is the access-terms line of
``medharvest crawl --list``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from manifests.errors import UsageError
from manifests.registry import lookup

SOURCES: dict[str, str] = {
    "physionet": "crawlers.physionet",
    "gdc": "crawlers.gdc",
    "openneuro": "crawlers.openneuro",
    "openi": "crawlers.openi",
    "medpix": "crawlers.medpix",
    "wikimedia": "crawlers.wikimedia",
    "pmc": "crawlers.pmc",
    "web": "crawlers.web",
}


def load(name: str) -> ModuleType:
    """The source module of ``name`` (UsageError with "did you mean" for unknown names)."""
    path = lookup(SOURCES, name, "source")
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as err:
        if err.name and path.startswith(err.name):
            raise UsageError(f"source '{name}' is registered but its module {path} is not written yet") from None
        raise


def spider_class(name: str):
    module = load(name)
    cls = getattr(module, "Spider", None)
    if cls is None or getattr(cls, "name", None) != name:
        raise UsageError(f"module {module.__name__} has no Spider class named {name!r}")
    return cls


def terms(name: str) -> str:
    """One line: the source's access terms (``TERMS`` or the docstring's first paragraph)."""
    try:
        module = load(name)
    except UsageError as err:
        return f"(not available: {err})"
    text = getattr(module, "TERMS", None) or (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split()) or "(no datasheet)"


def listing() -> list[tuple[str, str]]:
    return [(name, terms(name)) for name in SOURCES]

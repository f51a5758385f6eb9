"""The sources ``medharvest crawl`` knows, discovered: no list to keep in sync.

A source is one module ``crawlers/<module>.py`` holding one subclass of
:class:`~crawlers.engine.spider.SourceSpider` with a non-empty ``name`` (the registry key); the
module docstring is its datasheet. :func:`sources` walks the modules of the ``crawlers`` package
(not its sub-packages) the way Scrapy's ``SpiderLoader`` does, and refuses two spiders with one
name. Discovery imports every spider module (and so Scrapy, ~2 s), so it runs only for the commands
that crawl or list; ``--help`` never calls it.
"""

from __future__ import annotations

import inspect
from functools import cache

from manifests.registry import declared_classes, lookup


@cache
def sources() -> dict[str, type]:
    """Every registered source: ``name`` -> spider class, sorted by name."""
    return discover("crawlers")


def discover(package: str) -> dict[str, type]:
    """The spiders defined in the modules of ``package`` (sub-packages not walked), by name;
    RuntimeError when two share a name (the second would silently shadow the first)."""
    from crawlers.engine.spider import SourceSpider

    return declared_classes(package, SourceSpider, "sources", skip=lambda name: name == __name__)


def spider_class(name: str) -> type:
    """The spider class of source ``name`` (UsageError with "did you mean" for unknown names)."""
    return lookup(sources(), name, "source")


def terms(cls) -> str:
    """One line: the source's access terms (``terms`` or its module docstring's first paragraph)."""
    text = cls.terms or (inspect.getmodule(cls).__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.replace("``", "").split()) or "(no datasheet)"


def listing() -> dict[str, str]:
    """``crawl --list``: per source, its terms, the credentials it reads and its options."""
    rows = {}
    for name, cls in sources().items():
        extra = []
        if cls.credentials:
            extra.append("credentials: " + ", ".join(cls.credentials))
        if cls.option_names:
            extra.append("options: " + ", ".join(cls.option_names))
        rows[name] = terms(cls) + "".join(f" [{e}]" for e in extra)
    return rows


def check_option_names(cls, options: dict) -> None:
    """UsageError naming the closest option for an option ``cls`` does not read."""
    from crawlers.engine.spider import ENGINE_OPTIONS

    known = (*cls.option_names, *ENGINE_OPTIONS)
    for key in options:
        if key not in known:
            lookup(dict.fromkeys(known), key, f"{cls.name} option")


def present() -> dict[str, bool]:
    """Per source that reads credentials: whether they are configured (booleans only: safe for run.json)."""
    return {name: cls.credentials_present() for name, cls in sources().items() if cls.credentials}


__all__ = ["discover", "check_option_names", "listing", "present", "sources", "spider_class", "terms"]

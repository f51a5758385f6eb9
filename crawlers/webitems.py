"""From a parsed :class:`manifests.raw.RawItem` to the engine's spider item (see ``crawlers.engine``).

The web sources parse responses into RawItems (pure functions, tested without a server); their
spiders hand them to the engine's pipeline with the file to fetch. Items that are not ``ok`` at
parse time (licence filtered out, no figure, page did not render) are written as they are, with no
download, and do not count against ``--limit``.
"""

from __future__ import annotations

import dataclasses

from manifests.raw import RawItem

#: Set by the pipeline itself, never by the spider.
_PIPELINE_FIELDS = {"source", "source_id", "retrieved_at", "file", "sha256"}


def fields_of(raw: RawItem) -> dict:
    """Every RawItem field the spider sets (``meta`` keeps ``file_url``: where the file came from)."""
    return {k: v for k, v in dataclasses.asdict(raw).items() if k not in _PIPELINE_FIELDS}


def to_item(spider, raw: RawItem, *, path: str | None = None, checksum: str | None = None,
            size: int | None = None, expect: str = "image") -> dict | None:
    """The spider item for ``raw`` (downloading ``raw.meta['file_url']`` to ``files/<path>``).

    Returns ``None`` once the spider's ``limit`` is reached (stop paging then).
    """
    fields = fields_of(raw)
    url = (raw.meta or {}).get("file_url")
    if raw.status != "ok" or not url or not path:
        if raw.status == "ok":
            fields["status"], fields["error"] = "error", "no file URL for this item"
        return {"source_id": raw.source_id, "downloads": [], "fields": fields}
    download = {"url": url, "path": path, "checksum": checksum, "size": size, "expect": expect, "role": "file"}
    return spider.item(raw.source_id, downloads=[download], **fields)

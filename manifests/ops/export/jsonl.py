"""``jsonl``: one JSON object per record per line, nested columns as JSON (lossless)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.ops.export._common import json_safe


def export_jsonl(table, path: str | os.PathLike) -> Path:
    """Write ``table`` as JSON Lines (atomically); ``image_path`` is written as given."""
    from manifests.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for batch in table.to_batches(max_chunksize=65536):
            for row in batch.to_pylist():
                fh.write(json.dumps(json_safe(row), ensure_ascii=False) + "\n")
    return path


class JsonlExport(Exporter):
    name = "jsonl"
    summary = "JSON Lines, one record per line, nested columns kept; image paths relative to the file"
    opens_with = "pandas.read_json(lines=True), jq"
    suffixes = (".jsonl",)
    directory = False

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        from manifests.io import rebase_image_paths

        export_jsonl(rebase_image_paths(table, ctx.images_root, out.parent), out)
        return {"rows": table.num_rows}

"""``csv``: one row per record, nested columns (labels, boxes, ...) as JSON strings in their cell."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.ops.export._common import flat_rows


def export_csv(table, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV (atomically); ``image_path`` is written as given."""
    from manifests.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=table.column_names)
        writer.writeheader()
        for row in flat_rows(table):
            writer.writerow(row)
    return path


class CsvExport(Exporter):
    name = "csv"
    summary = "one CSV file; nested columns as JSON strings; image paths relative to the file"
    opens_with = "pandas.read_csv, any spreadsheet"
    suffixes = (".csv",)
    directory = False

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        from manifests.io import rebase_image_paths

        export_csv(rebase_image_paths(table, ctx.images_root, out.parent), out)
        return {"rows": table.num_rows}

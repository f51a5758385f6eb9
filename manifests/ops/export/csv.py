"""``csv``: one row per record, nested columns (labels, boxes, ...) as JSON strings in their cell.

Text cells a spreadsheet would run as a formula (starting ``= + - @ TAB CR``: OWASP "CSV
Injection") are written with a leading ``'`` (:func:`csv_cell`), shown as text by Excel,
LibreOffice and Sheets; :func:`csv_safe_table` does the same for writers of whole tables.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.ops.export._common import flat_rows

#: Spreadsheet formula injection (OWASP "CSV Injection"): a text cell starting with one of these is
#: run as a formula by Excel / LibreOffice / Sheets; such cells get a leading ``'`` (shown as text).
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """``value`` safe for a spreadsheet: text starting with ``= + - @ TAB CR`` prefixed with ``'``."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value


def csv_safe_table(table):
    """Every string column of ``table`` through :func:`csv_cell` (for writers of whole tables)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, f in enumerate(table.schema):
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            col = table.column(i)
            risky = pc.fill_null(pc.match_substring_regex(col, r"^[=+\-@\t\r]"), False)
            table = table.set_column(i, f, pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col))
    return table


def export_csv(table, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV (atomically); ``image_path`` is written as given; formula-like text
    cells get a leading ``'`` (:func:`csv_cell`)."""
    from manifests.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=table.column_names)
        writer.writeheader()
        for row in flat_rows(table):
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
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

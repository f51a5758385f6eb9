"""``parquet``: a manifest again (the canonical schema), e.g. a filtered subset."""

from __future__ import annotations

from pathlib import Path

from manifests.ops.export import ExportContext, Exporter


class ParquetExport(Exporter):
    name = "parquet"
    summary = "a manifest (.parquet file, or a directory for manifest.parquet); image paths rebased"
    opens_with = "medharvest, pyarrow, pandas, DuckDB"
    suffixes = (".parquet",)
    directory = False

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        from manifests.io import write_manifest

        path = write_manifest(table, out, images_from=ctx.images_root)
        return {"rows": table.num_rows, "out": str(path)}

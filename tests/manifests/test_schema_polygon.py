"""Schema 1.1: boxes carry an optional polygon; manifests written before it stay readable."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.io import read_manifest, write_manifest
from manifests.schema import BOX_TYPE, SCHEMA, from_records

OLD_BOX = pa.struct([(f.name, f.type) for f in BOX_TYPE if f.name != "polygon"])


def test_old_manifest_without_polygon_reads_back_with_null_polygons(tmp_path):
    old_schema = pa.schema([pa.field("key", pa.string()), pa.field("source", pa.string()),
                            pa.field("source_id", pa.string()), pa.field("boxes", pa.list_(OLD_BOX))])
    box = {"label": "Nodule", "x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0, "label_source": "dataset", "annotator": None}
    old = pa.Table.from_pylist([{"key": "s:1", "source": "s", "source_id": "1", "boxes": [box]}], schema=old_schema)
    pq.write_table(old, tmp_path / "manifest.parquet")
    for table in (read_manifest(tmp_path), read_manifest(tmp_path, columns=["key", "boxes"])):
        assert table.schema.field("boxes").type == SCHEMA.field("boxes").type
        (b,) = table.column("boxes").to_pylist()[0]
        assert b["label"] == "Nodule" and b["polygon"] is None


def test_polygon_round_trips(tmp_path):
    poly = [0.5, 1.0, 10.0, 1.0, 10.0, 8.25]
    t = from_records([{"key": "s:1", "source": "s", "source_id": "1",
                       "boxes": [{"label": "whole_tumour", "x": 0.5, "y": 1.0, "w": 9.5, "h": 7.25, "polygon": poly}]}])
    write_manifest(t, tmp_path / "manifest.parquet")
    (b,) = read_manifest(tmp_path).column("boxes").to_pylist()[0]
    assert b["polygon"] == poly

import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests import io, schema
from manifests.errors import ManifestError, UsageError
from manifests.raw import RawItem, RawStore, find_stores


def _records(n=3, source="sample"):
    return [
        {
            "key": schema.make_key(source, str(i)), "source": source, "source_id": str(i),
            "retrieved_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
            "labels": schema.labels_list({"Effusion": "positive", "Mass": "uncertain"}, "ner"),
            "text": f"report {i}", "patient_id": f"p{i % 2}",
        }
        for i in range(n)
    ]


def test_round_trip_keeps_every_column_and_metadata(tmp_path):
    table = schema.from_records(_records())
    path = io.write_manifest(table, tmp_path / "m", meta={"split_seed": 7})
    assert path.name == "manifest.parquet"
    back = io.read_manifest(tmp_path / "m")
    assert back.schema.remove_metadata() == schema.SCHEMA
    assert back.to_pylist() == table.to_pylist()
    assert io.read_meta(path) == {"split_seed": 7}
    sub = io.read_manifest(path, columns=["key", "split"])
    assert sub.column_names == ["key", "split"]
    with pytest.raises(UsageError, match="did you mean 'split'"):
        io.read_manifest(path, columns=["splt"])


def test_write_is_atomic_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = io.write_manifest(schema.from_records(_records(2)), tmp_path / "manifest.parquet")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError):
        io.write_manifest(schema.from_records(_records(5)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.parquet"]  # no temp file left


def test_unknown_columns_are_refused():
    with pytest.raises(ManifestError, match="did you mean 'labels'"):
        schema.conform(pa.table({"key": ["a"], "lables": ["x"]}))


def test_exports_flatten_nested_columns_losslessly(tmp_path):
    from manifests.ops.export import export

    table = schema.from_records(_records(2))
    csv_path, jl_path = tmp_path / "m.csv", tmp_path / "m.jsonl"
    assert export(table, csv_path)["format"] == "csv" and export(table, jl_path)["format"] == "jsonl"
    import csv

    rows = list(csv.DictReader(open(csv_path)))
    assert json.loads(rows[0]["labels"])[0]["finding"] == "Effusion"
    lines = [json.loads(line) for line in open(jl_path)]
    assert lines[1]["labels"][1]["state"] == "uncertain"
    with pytest.raises(UsageError, match="export format"):
        export(table, tmp_path / "m.xlsx")


def test_merge_dedups_by_key_and_reports_conflicts():
    a = schema.from_records(_records(3))
    changed = _records(3)
    changed[1]["text"] = "a different report"
    b = schema.from_records(changed[1:] + _records(1, source="other"))
    merged, conflicts = io.merge([a, b])
    assert merged.column("key").to_pylist() == ["sample:0", "sample:1", "sample:2", "other:0"]
    assert conflicts == [{"key": "sample:1", "column": "text", "kept": "report 1", "dropped": "a different report"}]


def test_primary_labels_prefers_humans():
    labels = schema.labels_list({"Mass": "positive", "Effusion": "negative"}, "ner") + \
        schema.labels_list({"Mass": "negative"}, "human", annotator="a@x")
    assert schema.primary_labels(labels) == {"Mass": "negative", "Effusion": "negative"}


def test_raw_store_resumes_after_a_partial_line(tmp_path):
    with RawStore(tmp_path, "src") as store:
        store.append(RawItem("src", "1", text="a"))
        store.append(RawItem("src", "2", status="error", error="boom"))
    with open(store.items_path, "a") as fh:
        fh.write('{"source": "src", "source_id": "3", "te')  # killed mid-line
    assert RawStore(tmp_path, "src").done_ids() == {"1"}
    with RawStore(tmp_path, "src") as store:
        store.append(RawItem("src", "2", text="retried"))
    summary = store.close()
    assert summary["status"] == {"ok": 2}
    assert [s.root.name for s in find_stores(tmp_path)] == ["src"]
    with pytest.raises(UsageError):
        find_stores(tmp_path / "nowhere")


def test_writing_elsewhere_rebases_image_paths(tmp_path):
    recs = _records(2)
    recs[0]["image_path"] = "images/ab/x.png"
    src = io.write_manifest(schema.from_records(recs), tmp_path / "curated")
    dst = io.write_manifest(io.read_manifest(src), tmp_path / "split" / "manifest.parquet", images_from=src.parent)
    paths = io.read_manifest(dst, columns=["image_path"]).column("image_path").to_pylist()
    assert paths == ["../curated/images/ab/x.png", None]
    assert (dst.parent / paths[0]).resolve() == (tmp_path / "curated/images/ab/x.png").resolve()


def test_jsonl_log_skips_and_cuts_a_torn_last_line(tmp_path):
    from manifests.jsonl import complete_lines, open_append

    log = tmp_path / "sub" / "log.jsonl"
    with open_append(log) as fh:
        fh.write('{"a": 1}\n{"b": 2}\n')
    with open(log, "ab") as fh:
        fh.write(b'{"c": 3, "tor')                  # a writer killed mid-line
    assert [n for n, _ in complete_lines(log)] == [1, 2]
    with open_append(log) as fh:
        fh.write('{"d": 4}\n')
    assert log.read_text() == '{"a": 1}\n{"b": 2}\n{"d": 4}\n'
    log.write_bytes(b"no newline at all")
    with open_append(log):
        pass
    assert log.read_bytes() == b""

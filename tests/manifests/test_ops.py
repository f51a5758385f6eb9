import csv
import json

import pytest

from manifests.errors import UsageError
from manifests.io import read_manifest
from manifests.ops.filter import filter_table, label_state, merge_files
from manifests.schema import from_records, labels_list
from tests.manifests.conftest import make_records, write


@pytest.fixture
def table():
    recs = make_records(None, 6)
    recs[0].update(split="train", labels=labels_list({"Effusion": "uncertain"}, "ner") + labels_list({"Effusion": "positive"}, "human"))
    recs[1].update(split="test", labels=labels_list({"Effusion": "positive"}, "ner") + labels_list({"Effusion": "negative"}, "dataset"))
    recs[2].update(split="train", synthetic=True, width=512)
    recs[3].update(split="val", source="openi", key="openi:3", width=128)
    recs[4]["labels"] = []
    return from_records(recs)


def keys(t):
    return t["key"].to_pylist()


def test_label_state_prefers_trusted_sources(table):
    assert label_state(table, "Effusion").to_pylist()[:2] == ["positive", "negative"]
    assert label_state(table, "effusions").to_pylist()[4] == "not_mentioned"


@pytest.mark.parametrize("expr,expected", [
    ("split == 'train'", ["sample:0", "sample:2"]),
    ("split == 'train' and not synthetic", ["sample:0"]),
    ("source in ('openi',) or width >= 500", ["sample:2", "openi:3"]),
    ("label('Effusion') == 'positive'", ["sample:0"]),
    ("label('Infiltrate') != 'not_mentioned'", []),
    ("split == None", ["sample:4", "sample:5"]),
    ("128 <= width < 600", ["sample:2", "openi:3"]),
])
def test_filter_expressions(table, expr, expected):
    assert keys(filter_table(table, expr)) == expected


@pytest.mark.parametrize("expr,message", [
    ("sorce == 'openi'", "did you mean 'source'"),
    ("split == 'tset'", "did you mean 'test'"),
    ("source == 'openy'", "did you mean 'openi'"),
    ("label('Efusion') == 'positive'", "did you mean 'Effusion'"),
    ("label('Effusion') == 'postive'", "did you mean 'positive'"),
    ("__import__('os')", "only label"),
    ("split ==", "not a valid expression"),
    ("width", "not a condition"),
])
def test_bad_filters_are_usage_errors(table, expr, message):
    with pytest.raises(UsageError, match=message):
        filter_table(table, expr)


def test_merge_dedups_and_reports_conflicts(tmp_path):
    a = make_records(tmp_path / "a", 5, seed=1)
    b = make_records(tmp_path / "b", 5, seed=2)[2:]  # keys sample:2..4, different images and text
    b[0]["text"] = a[2]["text"]
    b[0]["image_sha256"] = a[2]["image_sha256"]
    b[0]["labels"] = a[2]["labels"]
    b.append({**make_records(None, 9)[8]})
    pa_, pb = write(tmp_path / "a", a), write(tmp_path / "b", b)
    out, conflicts, summary = merge_files([pa_, pb], tmp_path / "out" / "manifest.parquet")
    merged = read_manifest(out)
    assert merged["key"].to_pylist() == [f"sample:{i}" for i in range(5)] + ["sample:8"]
    assert summary["duplicates_dropped"] == 3 and summary["rows_out"] == 6
    conflict_keys = {c["key"] for c in conflicts}
    assert conflict_keys == {"sample:3", "sample:4"}  # sample:2 is identical in the compared columns
    assert all(c["kept"] != c["dropped"] for c in conflicts)


def test_exports_round_trip_nested_columns(tmp_path, table):
    from manifests.ops.export import export

    export(table, tmp_path / "m.jsonl")
    export(table, tmp_path / "m.csv")
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert rows[0]["labels"][1] == {"finding": "Effusion", "state": "positive", "label_source": "human", "annotator": None}
    with open(tmp_path / "m.csv", newline="") as fh:
        crow = list(csv.DictReader(fh))
    assert json.loads(crow[0]["labels"])[0]["state"] == "uncertain"
    assert len(crow) == 6

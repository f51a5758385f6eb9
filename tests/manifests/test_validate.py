import json

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.schema import from_records
from manifests.ops.validate import validate_manifest, validate_table
from tests.manifests.conftest import make_records, write


def kinds(report):
    return {(r["problem"], r["column"]) for r in report.problems.to_pylist()}


def test_clean_manifest_is_valid(manifest):
    report = validate_manifest(manifest)
    assert report.ok, report.problems.to_pylist()
    assert report.problems.num_rows == 0
    assert report.rows == 30


def test_missing_file_and_sha_mismatch(tmp_path):
    recs = make_records(tmp_path, 5)
    (tmp_path / recs[0]["image_path"]).unlink()
    (tmp_path / recs[1]["image_path"]).write_bytes(b"not the same bytes")
    report = validate_manifest(write(tmp_path, recs))
    rows = {(r["key"], r["problem"]) for r in report.problems.to_pylist()}
    assert rows == {("sample:0", "missing_file"), ("sample:1", "sha256_mismatch")}
    assert not report.ok
    # --no-files skips exactly those checks
    assert validate_manifest(tmp_path / "manifest.parquet", files=False).ok


def test_image_path_is_relative_to_the_manifest_dir(tmp_path, monkeypatch):
    root = tmp_path / "deep" / "m"
    root.mkdir(parents=True)
    path = write(root, make_records(root, 3))
    monkeypatch.chdir(tmp_path)
    assert validate_manifest(path).ok


def test_bad_state_label_source_and_finding():
    recs = make_records(None, 3)
    recs[0]["labels"] = [{"finding": "Effusion", "state": "postive", "label_source": "dataset", "annotator": None}]
    recs[1]["labels"] = [{"finding": "Infiltrate", "state": "positive", "label_source": "crowd", "annotator": None}]
    recs[2]["labels"] = [{"finding": "Efusion", "state": "negative", "label_source": "ner", "annotator": None}]
    report = validate_table(from_records(recs), files=False)
    problems = {(r["key"], r["problem"]): r["detail"] for r in report.problems.to_pylist()}
    assert "did you mean 'positive'" in problems[("sample:0", "illegal_state")]
    assert "use 'Infiltration'" in problems[("sample:1", "unknown_finding")]
    assert ("sample:1", "illegal_label_source") in problems
    assert "did you mean 'Effusion'" in problems[("sample:2", "unknown_finding")]
    assert report.violations == 4


def test_missing_provenance_where_the_record_requires_it():
    web = make_records(None, 2, web=True)
    del web[0]["license_url"]
    web[1]["retrieved_at"] = None
    local = make_records(None, 2)  # provenance_required unset (older manifests): no provenance needed
    for r in local:
        r.update(key=f"sample:{r['source_id']}x", source_id=f"{r['source_id']}x")
    report = validate_table(from_records(web + local), files=False)
    assert {(r["key"], r["problem"], r["column"]) for r in report.problems.to_pylist()} == {
        ("openi:0", "missing_provenance", "license_url"), ("openi:1", "missing_provenance", "retrieved_at")}


def test_duplicate_and_mismatched_keys():
    recs = make_records(None, 3)
    recs[1]["key"] = "sample:0"
    recs[2]["key"] = "other:2"
    report = validate_table(from_records(recs), files=False)
    got = {(r["key"], r["problem"]) for r in report.problems.to_pylist()}
    assert ("sample:0", "duplicate_key") in got
    assert ("sample:0", "key_mismatch") in got        # recs[1]: sample:0 != sample:1
    assert ("other:2", "key_mismatch") in got
    assert sum(1 for r in report.problems.to_pylist() if r["problem"] == "duplicate_key") == 1


def test_split_status_values_and_synthetic_in_eval():
    recs = make_records(None, 4)
    recs[0]["split"] = "tset"
    recs[1]["status"] = "okay"
    recs[2].update(synthetic=True, split="test")
    recs[3].update(status="error", error="corrupt PNG")
    report = validate_table(from_records(recs), files=False)
    assert kinds(report) == {("illegal_value", "split"), ("illegal_value", "status"),
                             ("synthetic_in_eval", "split"), ("record_error", "status")}
    assert report.violations == 3


def test_record_errors_alone_are_not_violations():
    recs = make_records(None, 2)
    recs[0].update(status="error", error="decode failed")
    report = validate_table(from_records(recs), files=False)
    assert report.ok and report.problems.num_rows == 1
    assert report.problems.to_pylist()[0]["detail"] == "decode failed"


def test_unknown_column_and_bad_type_in_file(tmp_path):
    t = from_records(make_records(None, 2))
    t = t.append_column("patient_name", pa.array(["x", "y"]))
    t = t.set_column(t.schema.get_field_index("width"), "width", pa.array(["wide", "narrow"]))
    pq.write_table(t, tmp_path / "manifest.parquet")
    report = validate_manifest(tmp_path, files=False)
    got = {(r["problem"], r["column"]) for r in report.problems.to_pylist()}
    assert ("unknown_column", "patient_name") in got
    assert ("bad_type", "width") in got


def test_report_written_as_csv_and_json(tmp_path):
    recs = make_records(None, 2)
    recs[0]["split"] = "nope"
    report = validate_table(from_records(recs), files=False)
    report.write(tmp_path / "p.csv")
    report.write(tmp_path / "p.json")
    assert "illegal_value" in (tmp_path / "p.csv").read_text()
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["violations"] == 1 and data["problems"][0]["key"] == "sample:0"


def test_patient_and_dup_group_leaks_across_splits():
    recs = make_records(None, 6, patients=100)
    for r, p, s, d in zip(recs, ["A", "A", "B", "B", "C", "D"], ["train", "test", "val", "val", "train", "val"],
                          [None, None, None, None, "D1", "D1"]):
        r.update(patient_id=p, split=s, dup_group=d)
    report = validate_table(from_records(recs), files=False)
    got = {(r["problem"], r["key"], r["detail"]) for r in report.problems.to_pylist()}
    assert got == {("patient_in_two_splits", "sample:0", "patient_id 'A' is in test, train"),
                   ("dup_group_in_two_splits", "sample:4", "dup_group 'D1' is in train, val")}


def test_violations_are_listed_before_record_errors(tmp_path):
    recs = make_records(tmp_path, 6)
    for r in recs[:5]:
        r.update(status="error", error="decode failed")
    (tmp_path / recs[5]["image_path"]).unlink()
    report = validate_manifest(write(tmp_path, recs))
    assert [r["problem"] for r in report.problems.to_pylist()] == ["missing_file"] + ["record_error"] * 5


def test_files_of_error_records_are_not_checked(tmp_path):
    recs = make_records(tmp_path, 2)
    recs[0].update(status="error", error="decode failed", image_path="raw/broken.dcm")
    report = validate_manifest(write(tmp_path, recs))
    assert report.ok and [r["problem"] for r in report.problems.to_pylist()] == ["record_error"]

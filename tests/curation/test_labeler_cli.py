"""``medharvest curate labels`` / :func:`curation.text.run_labels` on small CSVs (no shared data)."""

from __future__ import annotations

import csv

import pytest

from curation.text import run_labels
from manifests.errors import UsageError
from manifests.labels import CHEXPERT14, NIH15


def write_csv(path, rows, header=("uid", "findings", "impression", "indication")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def reports(tmp_path):
    path = write_csv(tmp_path / "reports.csv", [
        ("a1", "No pneumothorax. Mild cardiomegaly.", "Possible pneumonia.", "fever"),
        ("a2", "", "", "cough"),
        ("a3", "No effusion, pneumothorax or consolidation.", "Normal chest.", "pneumonia?"),
    ])
    with open(path, "ab") as fh:  # a row that is not UTF-8 (latin-1 bytes)
        fh.write(b"a4,Caf\xe9 effusion,Small effusion,\n")
    return path


def test_one_row_per_report_with_states(reports, tmp_path):
    out = tmp_path / "out" / "labels.csv"
    summary = run_labels(reports, ["findings", "impression", "indication"], out, id_column="uid")
    rows = read_csv(out)
    assert list(rows[0]) == ["uid", *NIH15, "error"]
    assert [r["uid"] for r in rows] == ["a1", "a2", "a3", "a4"]
    a1, a2, a3, a4 = rows
    assert (a1["Cardiomegaly"], a1["Pneumothorax"], a1["Pneumonia"], a1["Effusion"]) == ("1", "0", "-1", "")
    assert a1["No Finding"] == "" and a1["error"] == ""
    # the indication column is a section whose findings make no label
    assert a2["error"] == "" and a2["Pneumonia"] == "" and a2["No Finding"] == "1"
    assert a3["Pneumonia"] == "" and a3["Effusion"] == a3["Consolidation"] == "0" and a3["No Finding"] == "1"
    assert a4["error"] == "text is not valid UTF-8" and all(a4[f] == "" for f in NIH15)
    assert summary["rows"] == 4 and summary["errors"] == 1 and summary["not_utf8"] == 1
    assert summary["positive:Cardiomegaly"] == 1


def test_empty_report_is_an_error_row_and_default_id_is_the_row_number(reports, tmp_path):
    out = tmp_path / "labels.csv"
    summary = run_labels(reports, ["findings", "impression"], out)
    rows = read_csv(out)
    assert [r["row"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[1]["error"] == "empty report" and summary["empty"] == 1


def test_chexpert_vocabulary(reports, tmp_path):
    out = tmp_path / "labels.csv"
    run_labels(reports, ["findings"], out, id_column="uid", vocabulary="chexpert")
    rows = read_csv(out)
    assert list(rows[0]) == ["uid", *CHEXPERT14, "error"]
    assert rows[0]["Cardiomegaly"] == "1" and rows[2]["Pleural Effusion"] == "0"


@pytest.mark.parametrize("kwargs,message", [
    ({"text_columns": ["finding"]}, "did you mean 'findings'"),
    ({"text_columns": ["findings"], "id_column": "uuid"}, "did you mean 'uid'"),
    ({"text_columns": ["findings"], "vocabulary": "chexpret"}, "did you mean 'chexpert'"),
])
def test_usage_errors_before_any_work(reports, tmp_path, kwargs, message):
    out = tmp_path / "labels.csv"
    with pytest.raises(UsageError, match=message):
        run_labels(reports, out=out, **kwargs)
    assert not out.exists()


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        run_labels(tmp_path / "nope.csv", ["findings"], tmp_path / "o.csv")


def test_cli_command(reports, tmp_path, capsys):
    from medharvest.cli import main

    out = tmp_path / "labels.csv"
    assert main(["curate", "labels", str(reports), "--text-columns", "findings", "impression",
                 "--out", str(out), "--id-column", "uid", "-q"]) == 0
    assert len(read_csv(out)) == 4
    assert main(["curate", "labels", str(reports), "--text-columns", "finding", "--out", str(out), "-q"]) == 2
    assert "did you mean 'findings'" in capsys.readouterr().err

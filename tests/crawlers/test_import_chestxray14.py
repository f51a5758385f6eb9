"""ChestX-ray14 importer on the real 568 64-px images and real CSV heads, plus malformed variants."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from crawlers import importers
from crawlers.importers.chestxray14 import split_columns
from manifests.errors import UsageError
from manifests.raw import RawStore

pytestmark = pytest.mark.shared


def tiny_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 90).save(path)


def items_of(out: Path, source: str = "chestxray14") -> dict:
    return RawStore(out, source).latest()


def test_split_columns_of_both_header_forms(shared):
    src = shared("fixtures", "sources", "nih_chestxray14")
    for name in ("Data_Entry_2017_original_head.csv", "Data_Entry_2017_v2020_torchxrayvision_head.csv"):
        header = next(csv.reader(open(src / name, newline="")))
        cols = split_columns(header)
        assert cols[-4:] == ["OriginalImageWidth", "OriginalImageHeight",
                             "OriginalImagePixelSpacingX", "OriginalImagePixelSpacingY"]
        assert len(cols) == 11


def test_real_64px_folder_yields_568_ok_items(shared, tmp_path):
    from medharvest.cli import main

    root = shared("data", "nih_cxr14_64px")
    assert main(["import", "chestxray14", str(root), "--out", str(tmp_path), "-q"]) == 0
    items = items_of(tmp_path)
    assert len(items) == 568 and all(it.status == "ok" for it in items.values())
    positives = Counter(f for it in items.values() for f, s in it.labels.items() if s == "positive")
    # the counts published in shared/data/nih_cxr14_64px/SOURCES.md
    assert positives["No Finding"] == 293 and positives["Effusion"] == 93 and positives["Infiltration"] == 83
    assert positives["Hernia"] == 9 and positives["Edema"] == 8
    assert Counter(it.view for it in items.values()) == {"PA": 411, "AP": 157}
    assert len({it.patient_id for it in items.values()}) == 176
    it = items["00000003_000.png"]
    assert Path(it.file).is_absolute() and Path(it.file).is_file() and it.file.startswith(str(root.resolve()))
    assert it.patient_id == "00000003" and it.study_id == "00000003_000" and it.label_source == "dataset"
    assert it.labels["Hernia"] == "positive" and it.labels["No Finding"] == "negative"
    assert it.meta["Follow-up #"] == 7 and it.meta["OriginalImageWidth"] == 2582
    assert it.meta["folder"] == "NIH1000/train/1_abnormal" and it.split is None
    assert it.license and it.attribution and "Wang" in it.attribution
    assert sum("google2019" in i.meta for i in items.values()) == 15
    assert items["00000013_008.png"].meta["google2019"] == {
        "Fracture": "NO", "Pneumothorax": "NO", "Airspace opacity": "YES", "Nodule or mass": "NO", "Set Id": "test"}
    stats = json.loads((tmp_path / "raw" / "chestxray14" / "stats.json").read_text())
    assert stats["status"] == {"ok": 568}
    # a re-run resumes: nothing new is written
    summary = importers.run("chestxray14", root, tmp_path)
    assert summary.get("written", 0) == 0 and summary["skipped_done"] == 568


def _layout(tmp_path: Path, src: Path) -> tuple[Path, list[str]]:
    """ROOT as NIH ships it: CSVs at the top, PNGs in images_001/images/."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "Data_Entry_2017.csv").symlink_to(src / "Data_Entry_2017_original_head.csv")
    names = [r[0] for r in list(csv.reader(open(src / "Data_Entry_2017_original_head.csv", newline="")))[1:]]
    for n in names[1:]:                       # the first image is missing on purpose
        tiny_png(root / "images_001" / "images" / n)
    bbox = (src / "BBox_List_2017_head_3_per_label.csv").read_text()
    bbox += f"{names[2]},Infiltrate,10.5,20,30.25,40\n{names[3]},Mass,1,2,x,4\n"
    (root / "BBox_List_2017.csv").write_text(bbox)
    (root / "train_val_list.txt").write_text("\n".join(names[:30]) + "\n")
    (root / "test_list.txt").write_text("\n".join(names[30:]) + "\n")
    return root, names


def test_original_csv_boxes_lists_and_missing_image(shared, tmp_path):
    src = shared("fixtures", "sources", "nih_chestxray14")
    root, names = _layout(tmp_path, src)
    summary = importers.run("chestxray14", root, tmp_path / "out")
    items = items_of(tmp_path / "out")
    assert len(items) == len(names) == 49
    assert summary["status"] == {"ok": 47, "error": 2}
    missing = items[names[0]]
    assert missing.status == "error" and "not found" in missing.error and missing.labels["Cardiomegaly"] == "positive"
    box = items[names[2]].boxes
    assert box == [{"label": "Infiltration", "x": 10.5, "y": 20.0, "w": 30.25, "h": 40.0}]
    bad_box = items[names[3]]
    assert bad_box.status == "error" and "BBox_List_2017.csv line" in bad_box.error
    first_ok = items[names[1]]
    assert first_ok.meta["OriginalImageWidth"] == 2894 and first_ok.meta["OriginalImagePixelSpacingX"] == 0.143
    assert first_ok.split == "train" and first_ok.meta["official_list"] == "train_val"
    assert items[names[40]].split == "test"
    assert summary["boxes_total"] == 24 + 1 and summary["boxes_attached"] == 1


def test_v2020_file_preferred_when_both_present(shared, tmp_path):
    src = shared("fixtures", "sources", "nih_chestxray14")
    root, _ = _layout(tmp_path, src)
    (root / "Data_Entry_2017_v2020.csv").symlink_to(src / "Data_Entry_2017_v2020_torchxrayvision_head.csv")
    summary = importers.run("chestxray14", root, tmp_path / "out")
    assert summary["label_file"] == "Data_Entry_2017_v2020.csv" and summary["items"] == 30
    assert items_of(tmp_path / "out")["00000001_000.png"].meta["Patient Age"] == 57   # v2020 age


def test_malformed_rows_are_errors_and_nothing_else_is_lost(shared, tmp_path):
    src = shared("fixtures", "sources", "nih_chestxray14")
    lines = (src / "Data_Entry_2017_v2020_torchxrayvision_head.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    rows[0] = rows[0].replace("Cardiomegaly", "Pneumonitis")        # unknown finding
    rows[1] = ",".join(rows[1].split(",")[:5])                      # truncated line
    rows[2] = rows[2].replace(",1,58,", ",x1,58,")                   # bad patient id
    rows[3] = rows[3].replace("No Finding", "No Finding|Effusion")   # contradictory labels
    root = tmp_path / "root"
    root.mkdir()
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join([header, *rows]) + "\n")
    for r in rows:
        tiny_png(root / "images" / r.split(",")[0])
    importers.run("chestxray14", root, tmp_path / "out")
    items = items_of(tmp_path / "out")
    assert len(items) == len(rows)
    errors = {sid: it.error for sid, it in items.items() if it.status == "error"}
    assert set(errors) == {r.split(",")[0] for r in rows[:4]}
    assert "Pneumonitis" in errors[rows[0].split(",")[0]]
    assert "malformed line with 5 fields, expected 11" in errors[rows[1].split(",")[0]]
    assert "bad Patient ID 'x1'" in errors[rows[2].split(",")[0]]
    assert "No Finding" in errors[rows[3].split(",")[0]]


@pytest.mark.parametrize("drop", ["Finding Labels", "Patient ID"])
def test_missing_required_column_is_a_usage_error_before_work(shared, tmp_path, drop):
    src = shared("fixtures", "sources", "nih_chestxray14")
    root = tmp_path / "root"
    root.mkdir()
    text = (src / "Data_Entry_2017_v2020_torchxrayvision_head.csv").read_text()
    (root / "Data_Entry_2017_v2020.csv").write_text(text.replace(drop, drop.replace(" ", "_").upper(), 1))
    with pytest.raises(UsageError, match="lacks required column"):
        importers.run("chestxray14", root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_symlink_loop_under_root_is_walked_once(shared, tmp_path):
    src = shared("fixtures", "sources", "nih_chestxray14")
    root, names = _layout(tmp_path, src)
    (root / "images_001" / "images" / "loop").symlink_to(root)
    summary = importers.run("chestxray14", root, tmp_path / "out")
    assert summary["items"] == 49 and summary["status"]["ok"] == 47


def test_missing_label_file_and_unknown_importer(tmp_path):
    from medharvest.cli import main

    with pytest.raises(UsageError, match="Data_Entry_2017"):
        importers.run("chestxray14", tmp_path, tmp_path / "out")
    with pytest.raises(UsageError, match="did you mean 'chestxray14'"):
        importers.get("chestxray41")
    assert main(["import", "chestxray41", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert main(["import", "chestxray14", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    shutil.rmtree(tmp_path / "o", ignore_errors=True)

"""CheXpert importer on the real train.csv head (four states kept), plus malformed variants."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from crawlers import importers
from manifests.errors import UsageError
from manifests.labels import CHEXPERT14
from manifests.raw import RawStore

pytestmark = pytest.mark.shared
STATE = {"1.0": "positive", "0.0": "negative", "-1.0": "uncertain", "": "not_mentioned"}


def tiny_jpg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 90).save(path, format="JPEG")


def _layout(tmp_path: Path, src: Path, *, skip_first_image=True) -> tuple[Path, list[dict]]:
    """ROOT/CheXpert-v1.0-small/{train.csv, valid.csv, train/..., valid/...} as Stanford ships it."""
    root = tmp_path / "root"
    ds = root / "CheXpert-v1.0-small"
    ds.mkdir(parents=True)
    text = (src / "CheXpert-v1.0-small_train_head.csv").read_text()
    (ds / "train.csv").write_text(text)
    lines = text.splitlines()
    valid = [lines[0]] + [ln.replace("/train/", "/valid/", 1) for ln in lines[1:4]]
    (ds / "valid.csv").write_text("\n".join(valid) + "\n")
    rows = list(csv.DictReader(open(ds / "train.csv", newline=""))) + list(csv.DictReader(open(ds / "valid.csv", newline="")))
    for i, r in enumerate(rows):
        if not (skip_first_image and i == 0):
            tiny_jpg(root / r["Path"])
    return root, rows


def test_real_head_keeps_four_states_and_ids(shared, tmp_path):
    src = shared("fixtures", "sources", "chexpert")
    root, rows = _layout(tmp_path, src)
    summary = importers.run("chexpert", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "chexpert").latest()
    assert len(items) == len(rows) == 43
    assert summary["status"] == {"ok": 42, "error": 1}
    # every cell comes back as its own state: uncertain is never collapsed
    want = Counter(STATE[r[o]] for r in rows for o in CHEXPERT14)
    got = Counter(s for it in items.values() if it.labels for s in it.labels.values())
    assert want["uncertain"] > 0 and got == want
    it = items["train/patient00002/study2/view1_frontal.jpg"]
    assert it.labels["Cardiomegaly"] == "uncertain" and it.labels["Lung Opacity"] == "positive"
    assert it.labels["No Finding"] == "not_mentioned" and it.label_source == "dataset"
    assert it.patient_id == "patient00002" and it.study_id == "patient00002/study2"
    assert it.view == "AP" and it.split == "train" and it.meta["Sex"] == "Female" and it.meta["Age"] == 87
    assert Path(it.file).is_file() and Path(it.file).is_absolute()
    lateral = items["train/patient00002/study1/view2_lateral.jpg"]
    assert lateral.view == "LATERAL"
    assert items["valid/patient00002/study2/view1_frontal.jpg"].split == "val"
    first = items["train/patient00001/study1/view1_frontal.jpg"]
    assert first.status == "error" and "not found" in first.error
    assert first.labels["No Finding"] == "positive" and first.labels["Pneumothorax"] == "negative"


def test_root_may_be_the_dataset_folder_itself(shared, tmp_path):
    root, rows = _layout(tmp_path, shared("fixtures", "sources", "chexpert"), skip_first_image=False)
    summary = importers.run("chexpert", root / "CheXpert-v1.0-small", tmp_path / "out")
    assert summary["status"] == {"ok": len(rows)}


def test_bad_values_and_short_rows_are_per_row_errors(shared, tmp_path):
    root, rows = _layout(tmp_path, shared("fixtures", "sources", "chexpert"), skip_first_image=False)
    train = root / "CheXpert-v1.0-small" / "train.csv"
    lines = train.read_text().splitlines()
    lines[2] = lines[2].replace(",-1.0,", ",maybe,", 1)            # bad label value
    lines[3] = ",".join(lines[3].split(",")[:8])                   # row missing columns
    lines[4] = lines[4].replace(",1.0", ",2.0", 1)                  # out-of-range value
    train.write_text("\n".join(lines) + "\n")
    importers.run("chexpert", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "chexpert").latest()
    assert len(items) == len(rows)
    errors = {k: v.error for k, v in items.items() if v.status == "error"}
    assert len(errors) == 3
    assert any("'maybe' is not one of 1, 0, -1 or blank" in e for e in errors.values())
    assert any("label value 2.0 is not one of" in e for e in errors.values())
    assert any("malformed line with 8 fields, expected 19" in e for e in errors.values())
    assert all(not items[k].labels for k in errors)               # no half-decoded labels


def test_missing_csv_or_column_is_a_usage_error(shared, tmp_path):
    with pytest.raises(UsageError, match="train.csv or valid.csv"):
        importers.run("chexpert", tmp_path, tmp_path / "out")
    root, _ = _layout(tmp_path, shared("fixtures", "sources", "chexpert"))
    train = root / "CheXpert-v1.0-small" / "train.csv"
    train.write_text(train.read_text().replace("Pleural Effusion", "Pleural Efusion", 1))
    with pytest.raises(UsageError, match=r"lacks required column\(s\) \['Pleural Effusion'\]; did you mean 'Pleural Efusion'"):
        importers.run("chexpert", root, tmp_path / "out")
    assert not (tmp_path / "out").exists()

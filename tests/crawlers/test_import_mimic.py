"""MIMIC-CXR-JPG importer on the published metadata/negbio/split heads and the docs' example report."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from PIL import Image

from crawlers import importers
from manifests.errors import UsageError
from manifests.raw import RawStore

pytestmark = pytest.mark.shared
SUBJECT = "10000032"


def tiny_jpg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 90).save(path, format="JPEG")


def _layout(tmp_path: Path, src: Path, *, gz: bool = False) -> tuple[Path, list[list[str]]]:
    """ROOT/{mimic-cxr-2.0.0-*.csv[.gz], files/p10/p10000032/sNNN/<dicom>.jpg, sNNN.txt}."""
    root = tmp_path / "root"
    root.mkdir()
    meta = (src / "mimic-cxr-2.0.0-metadata_head_reconstructed.csv").read_bytes()
    if gz:
        (root / "mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(gzip.compress(meta))
    else:
        (root / "mimic-cxr-2.0.0-metadata.csv").write_bytes(meta)
    (root / "mimic-cxr-2.0.0-negbio.csv").symlink_to(src / "mimic-cxr-2.0.0-negbio_head_reconstructed.csv")
    (root / "mimic-cxr-2.0.0-split.csv").symlink_to(src / "mimic-cxr-2.0.0-split_head_reconstructed.csv")
    negbio = (src / "mimic-cxr-2.0.0-negbio_head_reconstructed.csv").read_text().splitlines()
    # a CheXpert-labeler file in the same format: the real study plus one with uncertain/negative cells
    (root / "mimic-cxr-2.0.0-chexpert.csv").write_text("\n".join([
        negbio[0], negbio[1], f"{SUBJECT},53189527,-1.0,,,0.0,,,,,,1.0,,,,"]) + "\n")
    rows = [ln.split(",") for ln in meta.decode().splitlines()[1:]]
    for dicom_id, subject, study, *_ in rows[:-1]:      # the last image is missing on purpose
        tiny_jpg(root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg")
    report = (src / "mimic-cxr_example_report_from_docs.txt").read_text()
    (root / "files" / "p10" / f"p{SUBJECT}" / "s50414267.txt").write_text(report)
    return root, rows


@pytest.mark.parametrize("gz", [False, True])
def test_real_heads_labels_split_reports(shared, tmp_path, gz):
    src = shared("fixtures", "sources", "physionet")
    root, rows = _layout(tmp_path, src, gz=gz)
    summary = importers.run("mimic-cxr-jpg", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "mimic-cxr-jpg").latest()
    assert len(items) == 5 and summary["status"] == {"ok": 4, "error": 1} and summary["reports_found"] == 2
    pa = items["02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"]
    assert pa.patient_id == SUBJECT and pa.study_id == "50414267" and pa.view == "PA" and pa.split == "train"
    assert pa.labels["No Finding"] == "positive" and pa.labels["Edema"] == "not_mentioned"
    assert pa.meta["labeler"] == "chexpert" and pa.meta["negbio"]["No Finding"] == "positive"
    assert pa.text.startswith(" " * 10) and "Large left pleural effusion" in pa.text and pa.text_kind == "report"
    assert Path(pa.file).is_file() and pa.meta["StudyDate"] == "21800506"
    assert items["174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962"].view == "LATERAL"
    other = items["2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab"]
    assert other.labels["Atelectasis"] == "uncertain" and other.labels["Edema"] == "negative"
    assert other.labels["Pleural Effusion"] == "positive" and other.split is None and other.text is None
    missing = items[rows[-1][0]]
    assert missing.status == "error" and "not found" in missing.error and missing.view == "AP"


def test_bad_label_row_marks_the_study_images_only(shared, tmp_path):
    root, _ = _layout(tmp_path, shared("fixtures", "sources", "physionet"))
    chex = root / "mimic-cxr-2.0.0-chexpert.csv"
    chex.write_text(chex.read_text().replace("-1.0,", "yes,", 1))
    importers.run("mimic-cxr-jpg", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "mimic-cxr-jpg").latest()
    bad = [it for it in items.values() if it.study_id == "53189527"]
    assert len(bad) == 2 and all(it.status == "error" and "'yes'" in it.error for it in bad)
    assert items["02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"].status == "ok"


def test_missing_metadata_or_column_is_a_usage_error(shared, tmp_path):
    with pytest.raises(UsageError, match="metadata"):
        importers.run("mimic-cxr-jpg", tmp_path, tmp_path / "out")
    root, _ = _layout(tmp_path, shared("fixtures", "sources", "physionet"))
    meta = root / "mimic-cxr-2.0.0-metadata.csv"
    meta.write_text(meta.read_text().replace("study_id", "studyid", 1))
    with pytest.raises(UsageError, match="study_id"):
        importers.run("mimic-cxr-jpg", root, tmp_path / "out")
    assert not (tmp_path / "out").exists()

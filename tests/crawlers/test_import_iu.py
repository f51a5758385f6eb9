"""IU X-ray importer on the real Open-i XML reports and the indiana_*.csv form."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from PIL import Image

from crawlers import importers
from crawlers.importers.iu_xray import image_key
from manifests.errors import UsageError
from manifests.labels import NIH14
from manifests.raw import RawStore

pytestmark = pytest.mark.shared
XML_DIR = "ecgen-radiology_xml_uid1-120"


def tiny_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 90).save(path)


def gold(src: Path) -> dict[str, dict[str, str]]:
    """NegBio's openi_gld_std14 (derived from the same manual MeSH coding), as states."""
    out = {}
    for row in csv.DictReader(open(src / "openi_gld_std14_first926.csv", newline="")):
        out[row["filename"]] = {f: ("positive" if row[f] == "1" else "negative") for f in NIH14 if f != "Hernia"}
        out[row["filename"]]["No Finding"] = "positive" if row["normal"] == "1" else "negative"
    return out


def _agree(items, truth) -> int:
    checked = 0
    for it in items.values():
        if not it.labels:
            assert it.meta["mesh"].strip() in ("No Indexing", ""), it.source_id
            continue
        want = truth[it.study_id]
        assert {k: v for k, v in it.labels.items() if k != "Hernia"} == want, it.source_id
        checked += 1
    return checked


def test_xml_reports_with_images_views_and_labels(shared, tmp_path):
    src = shared("data", "iu_cxr_reports")
    root = tmp_path / "root"
    root.mkdir()
    (root / "ecgen-radiology").symlink_to(src / XML_DIR)
    (root / "indiana_projections.csv").symlink_to(src / "indiana_projections_first926.csv")
    literal = sorted({m for p in (src / XML_DIR).glob("*.xml") for m in re.findall(r'<parentImage id="([^"]+)"', p.read_text())})
    for image_id in literal[1:]:
        tiny_png(root / "NLMCXR_png" / f"{image_id}.png")      # NLMCXR_png names
    ids = sorted(re.sub(r"^(CXR\d+)_(?:\d+_)?(IM-.*)$", r"\1_\2", i) for i in literal)
    summary = importers.run("iu-xray", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "iu-xray").latest()
    assert summary["form"] == "xml" and len(items) == len(ids) == 233
    assert summary["status"] == {"ok": 232, "error": 1}
    assert "not found" in items[re.sub(r"^CXR(\d+)_\d+_", r"CXR\1_", literal[0])].error
    one = items["CXR1_IM-0001-4001"]
    assert one.study_id == one.patient_id == "CXR1" and one.view == "FRONTAL" and one.text_kind == "report"
    assert one.text.splitlines()[2].startswith("FINDINGS: The cardiac silhouette") and "XXXX" in one.text
    assert one.labels["No Finding"] == "positive" and one.license == "CC-BY-NC-ND-4.0"
    assert items["CXR1_IM-0001-3001"].view == "LATERAL" and one.meta["image_name"] == "CXR1_1_IM-0001-4001"
    assert Path(one.file).name == "CXR1_1_IM-0001-4001.png"
    assert items["CXR10_IM-0002-2001"].view == "FRONTAL" and items["CXR10_IM-0002-1001"].view == "LATERAL"
    assert sum(it.view is not None for it in items.values()) >= 230
    # the same images get the same ids in the CSV layout
    uids = {it.study_id[3:] for it in items.values()}
    csv_keys = {image_key(r["uid"], r["filename"])
                for r in csv.DictReader(open(src / "indiana_projections_first926.csv", newline="")) if r["uid"] in uids}
    assert set(items) == csv_keys
    assert _agree(items, gold(src)) > 200


def test_csv_form_agrees_with_negbio_gold_standard(shared, tmp_path):
    src = shared("data", "iu_cxr_reports")
    root = tmp_path / "root"
    root.mkdir()
    for name in ("indiana_reports_first926.csv", "indiana_projections_first926.csv"):
        (root / name).symlink_to(src / name)
    names = [r["filename"] for r in csv.DictReader(open(src / "indiana_projections_first926.csv", newline=""))]
    for n in names[:-1]:
        tiny_png(root / "images" / "images_normalized" / n)
    summary = importers.run("iu-xray", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "iu-xray").latest()
    assert summary["form"] == "csv" and len(items) == len(names) == 1790
    assert summary["status"] == {"ok": 1789, "error": 1}
    it = items["CXR2_IM-0652-1001"]
    assert it.view == "FRONTAL" and Path(it.file).name == "2_IM-0652-1001.dcm.png"
    assert it.labels["Cardiomegaly"] == "positive" and it.meta["mesh"].startswith("Cardiomegaly/borderline")
    assert "IMPRESSION: No acute pulmonary findings." in it.text
    assert {i.study_id for i in items.values()} <= {f"CXR{u}" for u in range(1, 1000)}
    assert _agree(items, gold(src)) > 1700


def test_malformed_xml_and_reports_without_images(shared, tmp_path):
    src = shared("data", "iu_cxr_reports")
    root = tmp_path / "root"
    root.mkdir()
    text = (src / XML_DIR / "1.xml").read_text()
    (root / "1.xml").write_text(text)
    (root / "2.xml").write_text(text[: len(text) // 2].replace('id="CXR1"', 'id="CXR2"'))   # truncated
    no_images = re.sub(r"<parentImage.*?</parentImage>", "", text, flags=re.S).replace('id="CXR1"', 'id="CXR3"')
    (root / "3.xml").write_text(no_images)
    tiny_png(root / "CXR1_1_IM-0001-4001.png")
    importers.run("iu-xray", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "iu-xray").latest()
    assert items["CXR1_IM-0001-4001"].status == "ok" and items["CXR1_IM-0001-4001"].view is None
    assert items["CXR1_IM-0001-3001"].status == "error"
    assert items["CXR2"].status == "error" and "unreadable XML" in items["CXR2"].error
    assert items["CXR3"].status == "skipped" and "no image" in items["CXR3"].error and items["CXR3"].text


def test_missing_files_and_columns_are_usage_errors(shared, tmp_path):
    src = shared("data", "iu_cxr_reports")
    with pytest.raises(UsageError, match="indiana_reports"):
        importers.run("iu-xray", tmp_path, tmp_path / "out")
    root = tmp_path / "root"
    root.mkdir()
    (root / "indiana_reports_first926.csv").symlink_to(src / "indiana_reports_first926.csv")
    with pytest.raises(UsageError, match="indiana_projections"):
        importers.run("iu-xray", root, tmp_path / "out")
    (root / "indiana_projections.csv").write_text("uid,file,projection\n1,1_IM-0001-4001.dcm.png,Frontal\n")
    with pytest.raises(UsageError, match=r"\['filename'\]"):
        importers.run("iu-xray", root, tmp_path / "out")
    assert not (tmp_path / "out").exists()

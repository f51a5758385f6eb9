"""MedPix 2.0 JSON importer on the real release excerpts (../shared/fixtures/sources/medpix)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from crawlers import importers
from manifests.errors import UsageError
from manifests.raw import RawStore
from tests.conftest import REPO
from tests.crawlers.realfix import real
from tests.crawlers.webfixtures import FILES

pytestmark = pytest.mark.shared

CASES = "real_medpix2_Case_topic_first5_TRIMMED.json"
DESCS = "real_medpix2_Descriptions_first12_TRIMMED.json"
MISSING = "MPX1016_synpic34318"      # its image file is left out


def release(tmp_path):
    """The layout of the MedPix 2.0 repository: MedPix-2-0/{Case_topic,Descriptions}.json + images/."""
    root = tmp_path / "medpix"
    (root / "MedPix-2-0" / "images").mkdir(parents=True)
    shutil.copy(real("medpix", CASES), root / "MedPix-2-0" / "Case_topic.json")
    shutil.copy(real("medpix", DESCS), root / "MedPix-2-0" / "Descriptions.json")
    png = (FILES / "xray_a.png").read_bytes()
    for d in json.loads(real("medpix", DESCS).read_text()):
        if d["image"] != MISSING:
            (root / "MedPix-2-0" / "images" / f"{d['image']}.png").write_bytes(png)
    return root


def test_real_release_cases_and_images(tmp_path):
    summary = importers.run("medpix2", release(tmp_path), tmp_path / "out")
    assert (summary["cases"], summary["descriptions"], summary["items"]) == (5, 12, 12)
    assert summary["status"] == {"ok": 11, "error": 1}
    items = RawStore(tmp_path / "out", "medpix2").latest()
    assert "not found" in items[MISSING].error and items[MISSING].text          # kept, with its text
    assert Counter(it.patient_id for it in items.values()) == {
        "MPX1009": 2, "MPX1024": 2, "MPX1012": 2, "MPX1016": 2, "MPX1035": 1, "MPX1031": 1, "MPX1034": 2}
    assert {it.license for it in items.values()} == {"MedPix-terms"}
    assert all(it.attribution.startswith("MedPix®, U.S. National Library of Medicine") for it in items.values())
    assert {it.modality for it in items.values()} == {"CT"}
    a = items["MPX1009_synpic46283"]
    assert a.text == ("History: 73-year-old male with hematuria and numerous white blood cells found on UA\n"
                      "Findings: Bladder with thickened wall and diverticulum on the right. Diverticulum is mostly likely "
                      "secondary to chronic outflow obstruction. Prostate enlargement.\n"
                      "Diagnosis: Bladder Diverticulum\n"
                      "Caption: The prostate is enlarged with several calcifications noted within. "
                      "No dominant prostate mass is evident.")
    assert "Exam" not in a.text                                   # "N/A" is absence
    assert a.text_kind == "report" and a.view == "CORONAL" and a.body_part == "Genitourinary"
    assert a.meta["acr"] == {"code": "8.-1", "anatomy": "8"} and a.meta["topic_acr"] == {"code": "8.9", "anatomy": "8", "pathology": "9"}
    assert (a.meta["modality_name"], a.meta["plane"], a.meta["age"], a.meta["sex"]) == ("CT - noncontrast", "Coronal", 73, "male")
    assert a.meta["category"] == "Diverticulum" and a.meta["synpic"] == "synpic46283" and a.file.endswith("MPX1009_synpic46283.png")
    b = items["MPX1012_synpic22949"]
    assert b.text.startswith("History: 24 hours of pelvic, RLQ pain.\nExam: Tender in the right adnexa")
    assert b.meta["diagnosis_by"] == "Laporoscopy" and b.meta["differential"].startswith("Ovarian Torsion\nOvarian mass")
    assert items["MPX1016_synpic34317"].meta["figure_part"] == "2a"
    assert items["MPX1016_synpic34317"].meta["treatment"].startswith("The patient was initially treated for pneumonia")
    # images of cases outside the excerpt: caption only, not an error
    c = items["MPX1031_synpic20041"]
    assert c.status == "ok" and c.text_kind == "caption" and c.text.startswith("Caption: ") and not c.meta["case_known"]


def test_rerun_resumes_and_cli(tmp_path):
    root = release(tmp_path)
    importers.run("medpix2", root, tmp_path / "out")
    again = importers.run("medpix2", root, tmp_path / "out")
    assert again["skipped_done"] == 11 and again["written"] == 1       # only the failed one is tried again
    proc = subprocess.run([sys.executable, "-m", "medharvest", "import", "medpix2", str(root), "--out", str(tmp_path / "cli"),
                           "-q"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert RawStore(tmp_path / "cli", "medpix2").stats_path.exists()


def test_bad_release_is_refused_before_any_work(tmp_path):
    root = release(tmp_path)
    (root / "MedPix-2-0" / "Descriptions.json").write_text('{"not": "an array"}')
    with pytest.raises(UsageError, match="JSON array"):
        importers.run("medpix2", root, tmp_path / "out")
    (root / "MedPix-2-0" / "Descriptions.json").unlink()
    with pytest.raises(UsageError, match="Descriptions.json"):
        importers.run("medpix2", root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_elements_are_kept_as_errors(tmp_path):
    root = release(tmp_path)
    descs = json.loads((root / "MedPix-2-0" / "Descriptions.json").read_text())
    (root / "MedPix-2-0" / "Descriptions.json").write_text(json.dumps(descs + ["junk", {"U_id": "MPX1"}]))
    summary = importers.run("medpix2", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "medpix2").latest()
    assert summary["status"] == {"ok": 11, "error": 3}
    assert "no image name" in items["Descriptions.json[12]"].error and "no image name" in items["Descriptions.json[13]"].error

"""``curate run`` end to end: bad inputs kept as errors, duplicates, identifiers, labels, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.pipeline import JOURNAL, CurateConfig, curate_run
from manifests.io import read_manifest
from tests.curation.rawstores import build_store

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs the tesseract binary")


def _dicom() -> Path:
    from tests.conftest import SHARED

    p = SHARED / "data" / "pseudo_phi_dicom_burned_in" / "2_ORIGINAL.dcm"
    if p.exists():
        return p
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm"))


def _rows(out: Path) -> dict[str, dict]:
    return {r["source_id"]: r for r in read_manifest(out).to_pylist()}


@needs_tesseract
@pytest.mark.tesseract
@pytest.mark.slow
def test_run_end_to_end(tmp_path):
    import pydicom

    dcm = _dicom()
    build_store(tmp_path / "data", dicom=dcm)
    out = tmp_path / "out"
    summary = curate_run(CurateConfig(workers=2), [tmp_path / "data"], out)
    rows = _rows(out)
    assert summary["records"] == len(rows) == 12
    assert json.loads((out / "stats.json").read_text())["records"] == 12

    # bad input: kept, with status and error; the run finished
    errors = {k: r["error"] for k, r in rows.items() if r["status"] == "error"}
    assert set(errors) == {"corrupt_dcm", "truncated_png", "latin1", "empty_report", "missing_file", "failed_download"}
    assert "truncated" in errors["truncated_png"] and "UTF-8" in errors["latin1"]
    assert "empty" in errors["empty_report"] and errors["failed_download"] == "HTTP 404"
    assert "unreadable" in rows["corrupt_dcm"]["quality_flags"]
    assert rows["corrupt_dcm"]["text"] == "Chest."   # the text half survives a broken image

    # content-addressed store, exact and near duplicates
    a, copy, near, b = rows["a"], rows["a_copy"], rows["a_near"], rows["b"]
    assert a["image_path"] == copy["image_path"] and (out / a["image_path"]).is_file()
    assert a["image_path"] == f"images/{a['image_sha256'][:2]}/{a['image_sha256']}.png"
    assert near["image_path"] != a["image_path"]
    assert a["dup_group"] == copy["dup_group"] == near["dup_group"] is not None
    assert "exact_duplicate" in a["quality_flags"] and "near_duplicate" in near["quality_flags"]
    assert b["dup_group"] is None or b["dup_group"] != a["dup_group"]
    assert (a["width"], a["height"], a["bit_depth"]) == (256, 256, 8) and len(a["phash"]) == 16

    # labels: dataset labels kept (source spelling mapped), NER labels from the report, boxes kept
    lab = {(x["finding"], x["label_source"]): x["state"] for x in a["labels"]}
    assert lab[("Effusion", "dataset")] == "positive" and lab[("Infiltration", "dataset")] == "negative"
    assert lab[("Pneumothorax", "ner")] == "negative" and lab[("Cardiomegaly", "ner")] == "positive"
    assert any(e["negated"] and e["text"].lower() == "pneumothorax" for e in a["entities"])
    assert a["boxes"][0]["label"] == "Effusion" and a["boxes"][0]["label_source"] == "dataset"

    # burned-in identifiers: flagged and blacked out in the stored image
    phi = rows["phi"]
    img_flags = [f for f in phi["phi_flags"] if f["where"] == "image"]
    assert {"name", "id", "date"} <= {f["kind"] for f in img_flags} and all(f["redacted"] for f in img_flags)
    stored = np.asarray(Image.open(out / phi["image_path"]))
    for f in img_flags:
        assert stored[f["top"]:f["top"] + f["height"], f["left"]:f["left"] + f["width"]].max() == 0
    assert json.loads(phi["meta"])["image"]["ocr"]["verified_clean"] is True

    # DICOM header identifiers never reach the manifest; the patient id is hashed
    ds = pydicom.dcmread(dcm)
    d = rows["dcm"]
    assert d["modality"] == ds.Modality and d["patient_id"] and d["patient_id"] != str(ds.PatientID)
    assert {"name", "id"} <= {f["kind"] for f in d["phi_flags"] if f["where"] == "header"}
    blob = json.dumps(read_manifest(out).to_pylist(), default=str)
    for ident in [str(ds.PatientID), *str(ds.PatientName).split("^")]:
        if len(ident) >= 3:
            assert ident not in blob
    assert all(r["stage_version"] == "curate/2" for r in rows.values())


def test_rerun_resumes_and_reuses(tmp_path):
    build_store(tmp_path / "data")
    out = tmp_path / "out"
    cfg = CurateConfig(ocr=False, labels=False, workers=1)
    first = curate_run(cfg, [tmp_path / "data"], out)
    assert first["processed"] == 11 and first["reused"] == 0
    before = read_manifest(out).to_pylist()

    again = curate_run(cfg, [tmp_path / "data"], out)
    assert again["processed"] == 0 and again["reused"] == 11
    assert read_manifest(out).to_pylist() == before

    # a run killed half-way: journal cut mid-line, no manifest / stats yet
    journal = out / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:5]) + lines[5][:20])
    (out / "manifest.parquet").unlink()
    (out / "stats.json").unlink()
    resumed = curate_run(cfg, [tmp_path / "data"], out)
    assert resumed["reused"] == 5 and resumed["processed"] == 6
    assert read_manifest(out).to_pylist() == before

    # a file that no longer matches the raw item's sha256 is an error, not silently curated
    from manifests.raw import RawItem, RawStore

    store = RawStore(tmp_path / "data", "testsrc")
    with store:
        store.append(RawItem("testsrc", "a_near", file="files/a_near.png", patient_id="p2", sha256="0" * 64))
    mism = curate_run(cfg, [tmp_path / "data"], out)
    assert mism["processed"] == 1
    row = _rows(out)["a_near"]
    assert row["status"] == "error" and "differs from the raw item" in row["error"] and "checksum_mismatch" in row["quality_flags"]

    # a changed input file is processed again; a changed config redoes everything
    import os

    p = tmp_path / "data" / "raw" / "testsrc" / "files" / "b.png"
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    changed = curate_run(cfg, [tmp_path / "data"], out)
    assert changed["processed"] == 3  # b, latin1 and empty_report share files/b.png
    assert curate_run(CurateConfig(ocr=False, labels=False, workers=1, keep_16bit=True), [tmp_path / "data"], out)["reused"] == 0


def test_cli_run_usage_errors_and_run_json(tmp_path, capsys):
    from medharvest.cli import main

    assert main(["curate", "run", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["curate", "run", str(empty), "--out", str(tmp_path / "o")]) == 2
    build_store(tmp_path / "data", bad=False)
    assert main(["curate", "run", str(tmp_path / "data"), "--out", str(tmp_path / "data"), "-q"]) == 2
    cfg = tmp_path / "c.toml"
    cfg.write_text("[curate]\nnear_dup_treshold = 3\n")
    assert main(["curate", "run", str(tmp_path / "data"), "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "did you mean 'near_dup_threshold'" in capsys.readouterr().err
    rc = main(["curate", "run", str(tmp_path / "data" / "raw" / "testsrc"), "--out", str(tmp_path / "o"),
               "--no-ocr", "--no-labels", "--workers", "2", "-q"])
    assert rc == 0
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["command"] == "curate run" and run["config"]["ocr"] is False and run["summary"]["records"] == 5
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["records"] == 5


def test_header_identifiers_masked_in_text_keep_offsets():
    from curation.records import mask_identifiers

    text = "Patient Smith, John (MRN 1234567). Smithson unaffected. FINDINGS: no effusion."
    masked, flags = mask_identifiers(text, ["SMITH", "JOHN", "1234567", "ID"])
    assert masked == "Patient XXXXX, XXXX (MRN XXXXXXX). Smithson unaffected. FINDINGS: no effusion."
    assert len(masked) == len(text) and {f["kind"] for f in flags} == {"name", "id"}
    assert all(f["where"] == "text" and f["redacted"] for f in flags)


@needs_tesseract
@pytest.mark.tesseract
def test_scanned_pdf_reports_and_pdf_without_pages(tmp_path):
    import pypdfium2 as pdfium

    from manifests.raw import RawItem, RawStore
    from tests.curation.test_ocr import _text_pdf

    store = RawStore(tmp_path / "data", "pdfs")
    with store:
        _text_pdf(store.files_dir / "r.pdf", ["FINDINGS: Large right pneumothorax.", "IMPRESSION: No effusion."])
        pdfium.PdfDocument.new().save(str(store.files_dir / "empty.pdf"))
        store.append(RawItem("pdfs", "r", file="files/r.pdf", text_kind="report"))
        store.append(RawItem("pdfs", "empty", file="files/empty.pdf", text_kind="report"))
    store.close()
    curate_run(CurateConfig(workers=1), [tmp_path / "data"], tmp_path / "out")
    rows = _rows(tmp_path / "out")
    r = rows["r"]
    assert r["status"] == "ok" and "pneumothorax" in r["text"].lower() and r["image_path"] is None
    assert "no_image" in r["quality_flags"]
    pages = json.loads(r["meta"])["image"]["pages"]
    assert [p["page"] for p in pages] == [1, 2] and all(p["confidence"] > 0.5 for p in pages)
    lab = {(x["finding"], x["label_source"]): x["state"] for x in r["labels"]}
    assert lab[("Pneumothorax", "ner")] == "positive" and lab[("Effusion", "ner")] == "negative"
    assert rows["empty"]["status"] == "error" and "no pages" in rows["empty"]["error"]


def test_cli_labels_registers_flags(tmp_path):
    import csv

    from medharvest.cli import main

    src = tmp_path / "reports.csv"
    src.write_text("uid,findings,impression\n1,No pneumothorax.,Cardiomegaly.\n2,,\n", encoding="utf-8")
    out = tmp_path / "labels.csv"
    assert main(["curate", "labels", str(src), "--text-columns", "findings", "impression", "--id-column", "uid",
                 "--out", str(out), "-q"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["uid"] for r in rows] == ["1", "2"]
    assert rows[0]["Pneumothorax"] == "0" and rows[0]["Cardiomegaly"] == "1"
    assert main(["curate", "labels", str(tmp_path / "missing.csv"), "--text-columns", "x", "--out", str(out)]) == 2


from curation.jobs import image_job as _real_image_job  # noqa: E402


def crashing_job(job: dict) -> dict:
    """Stands in for a native decoder that segfaults on one malformed file."""
    import os

    if job["path"].endswith("b.png"):
        os._exit(139)
    return _real_image_job(job)


def test_a_crashing_decoder_fails_only_its_record(tmp_path, monkeypatch):
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("needs fork: the stand-in crashing job is patched in the parent")
    import curation.engines
    import curation.jobs

    monkeypatch.setattr(curation.jobs, "image_job", crashing_job)
    monkeypatch.setattr(curation.engines, "image_job", crashing_job)
    build_store(tmp_path / "data", bad=False)
    s = curate_run(CurateConfig(ocr=False, labels=False, workers=2), [tmp_path / "data"], tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert s["records"] == 5 and rows["b"]["status"] == "error" and "crashed" in rows["b"]["error"]
    assert all(rows[k]["status"] == "ok" for k in ("a", "a_copy", "a_near", "phi"))


@pytest.mark.shared
def test_volumes_slides_and_16bit_through_curate_run(tmp_path, shared):
    from manifests.raw import RawItem, RawStore

    store = RawStore(tmp_path / "data", "mixed")
    files = {
        "nii": shared("data", "nifti_small", "example4d.nii.gz"),
        "svs": shared("data", "histology_wsi_small", "small_HE.svs"),
        "wsidcm": shared("data", "histology_wsi_small", "small_dicom.dcm"),
        "ct": shared("data", "pseudo_phi_dicom_burned_in", "2_ORIGINAL.dcm"),
    }
    with store:
        for sid, p in files.items():
            store.append(RawItem("mixed", sid, file=str(p)))  # absolute paths, as importers write them
    store.close({"root": str(shared("data"))})  # ... with the dataset root they are under (absolute paths elsewhere are refused)
    out = tmp_path / "out"
    curate_run(CurateConfig(ocr=False, labels=False, keep_16bit=True, thumbnail_size=512, workers=2, wsi_tiles=2,
                            wsi_magnification=10.0, wsi_tile_size=128), [tmp_path / "data"], out)
    rows = _rows(out)
    assert all(r["status"] == "ok" for r in rows.values()), {k: r["error"] for k, r in rows.items()}
    nii = rows["nii"]
    assert json.loads(nii["meta"])["image"]["volume_shape"] == [128, 96, 24, 2] and nii["bit_depth"] == 16
    with Image.open(out / nii["image_path"]) as im:
        assert im.mode.startswith("I;16") and (im.width, im.height) == (nii["width"], nii["height"])
    assert rows["svs"]["modality"] == "SM" and max(rows["svs"]["width"], rows["svs"]["height"]) == 512
    assert rows["svs"]["bit_depth"] == 8 and rows["wsidcm"]["modality"] == "SM"
    tiles = json.loads(rows["svs"]["meta"])["image"]["tiles"]
    assert len(tiles) == 2 and all(t["magnification"] == 10.0 for t in tiles)
    with Image.open(out / tiles[0]["image_path"]) as im:
        assert im.size == (128, 128)
    assert rows["ct"]["bit_depth"] == 16 and rows["ct"]["modality"] == "CT"


def test_provenance_required_travels_from_raw_item_to_validate(tmp_path):
    from manifests.ops.validate import validate_manifest
    from manifests.raw import RawItem, RawStore

    store = RawStore(tmp_path / "data", "websrc")
    with store:
        for sid in ("full", "bare"):
            Image.new("L", (64, 64), 120).save(store.files_dir / f"{sid}.png")
        store.append(RawItem("websrc", "full", file="files/full.png", provenance_required=True, license="CC0-1.0",
                             license_url="https://creativecommons.org/publicdomain/zero/1.0/",
                             source_url="https://example.org/full", retrieved_at="2026-01-01T00:00:00Z"))
        store.append(RawItem("websrc", "bare", file="files/bare.png", provenance_required=True))
    store.close()
    curate_run(CurateConfig(workers=1, ocr=False, labels=False), [tmp_path / "data"], tmp_path / "out")
    assert {k: r["provenance_required"] for k, r in _rows(tmp_path / "out").items()} == {"full": True, "bare": True}
    report = validate_manifest(tmp_path / "out", files=False)
    missing = {(r["key"], r["column"]) for r in report.problems.to_pylist() if r["problem"] == "missing_provenance"}
    assert missing == {("websrc:bare", c) for c in ("source_url", "retrieved_at", "license", "license_url")}

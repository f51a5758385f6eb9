"""The embedded sample dataset: plan, determinism, store contract, DICOM, reports, duplicates, OCR."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crawlers.sample.generator import CLASS_WEIGHTS, SampleConfig, generate, plan, quotas
from manifests.raw import RawStore

CFG = SampleConfig(n=60, seed=1, dicom_rate=0.2, burn_rate=0.2, text_phi_rate=0.3, dup_rate=0.05, near_dup_rate=0.05)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[RawStore, dict[str, dict]]:
    out = tmp_path_factory.mktemp("sample")
    generate(CFG, out)
    store = RawStore(out, "sample")
    truth = {}
    for line in (store.root / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines():
        gt = json.loads(line)
        truth[gt["source_id"]] = gt
    return store, truth


def _pixels(path: Path) -> np.ndarray:
    if path.suffix == ".dcm":
        import pydicom

        ds = pydicom.dcmread(path)
        arr = ds.pixel_array.astype(np.float32) * 255.0 / 4095.0
        if ds.PhotometricInterpretation == "MONOCHROME1":
            arr = 255.0 - arr
        return np.round(arr).astype(np.uint8)
    return np.asarray(Image.open(path).convert("L"))


def test_quotas_are_exact():
    q = quotas(400, CLASS_WEIGHTS)
    assert sum(q.values()) == 400
    assert q["No Finding"] == 200
    assert quotas(7, {"a": 1, "b": 1}) in ({"a": 4, "b": 3}, {"a": 3, "b": 4})


def test_default_plan_has_chestxray14_like_imbalance():
    items = plan(SampleConfig())
    assert len(items) == 400
    base = [it for it in items if not it.get("dup_of") and not it.get("near_dup_of")]
    primary = Counter((it["findings"] or ["No Finding"])[0] for it in base)
    assert set(primary) == set(CLASS_WEIGHTS)
    assert 0.45 <= primary["No Finding"] / len(base) <= 0.55
    assert min(primary.values()) >= 8
    assert primary["Infiltration"] > primary["Nodule"] and primary["Effusion"] > primary["Cardiomegaly"]
    multi = sum(len(it["findings"]) > 1 for it in base)
    assert 0 < multi <= 0.1 * len(base)                      # mostly single-label
    studies = Counter(it["patient_id"] for it in base)
    assert max(studies.values()) >= 3 and len(studies) < len(base) * 0.6   # several studies per patient
    assert sum(it["dicom"] for it in base) >= 20
    assert sum(it["burn"] for it in base) >= 15
    assert sum(bool(it.get("dup_of")) for it in items) == 8
    assert sum(bool(it.get("near_dup_of")) for it in items) == 8
    assert {it["view"] for it in base} == {"PA", "AP"}


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path):
    cfg = SampleConfig(n=24, seed=7, size=96, dicom_rate=0.2, burn_rate=0.2)
    for name in ("a", "b"):
        generate(cfg, tmp_path / name)
    generate(SampleConfig(n=24, seed=8, size=96, dicom_rate=0.2, burn_rate=0.2), tmp_path / "c")
    a, b, c = (tmp_path / x / "raw" / "sample" for x in "abc")
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "items.jsonl").read_bytes() != (c / "items.jsonl").read_bytes()


def test_items_follow_the_raw_store_contract(sample):
    store, truth = sample
    items = list(store.iter_items())
    assert len(items) == CFG.n == len(truth)
    assert json.loads(store.stats_path.read_text())["status"] == {"ok": CFG.n}
    for it in items:
        assert it.status == "ok" and it.error is None
        assert it.labels == {} and it.label_source is None and it.boxes == []   # labels come from reports
        assert it.license == "CC0-1.0" and it.license_url and it.attribution == "medharvest synthetic sample"
        assert it.source_url == f"medharvest://sample/{it.source_id}" and it.retrieved_at
        assert it.text and it.text_kind == "report"
        assert it.patient_id and it.study_id.startswith(it.patient_id)
        assert it.view in ("PA", "AP") and it.modality in ("CR", "DX") and it.body_part == "chest"
        path = store.resolve(it)
        assert path.is_file() and not Path(it.file).is_absolute()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == it.sha256
        if path.suffix != ".dcm":
            assert _pixels(path).shape == (CFG.size, CFG.size)
        assert "findings" not in json.dumps(it.meta)    # no ground truth leaks into items


def test_dicom_files_are_valid_with_header_identifiers(sample):
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    store, truth = sample
    dicoms = [gt for gt in truth.values() if gt["is_dicom"]]
    assert len(dicoms) >= 5
    assert {gt["photometric"] for gt in dicoms} == {"MONOCHROME1", "MONOCHROME2"}
    for gt in dicoms:
        ds = pydicom.dcmread(store.files_dir / f"{gt['source_id']}.dcm")
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.Modality in ("CR", "DX") and ds.ViewPosition in ("PA", "AP")
        assert ds.PhotometricInterpretation == gt["photometric"]
        assert str(ds.PatientName) == gt["header_identifiers"]["PatientName"] and "^" in str(ds.PatientName)
        assert ds.PatientID == gt["header_identifiers"]["PatientID"]
        assert re.fullmatch(r"\d{8}", ds.PatientBirthDate) and re.fullmatch(r"\d{8}", ds.StudyDate)
        arr = ds.pixel_array
        assert arr.shape == (CFG.size, CFG.size) and arr.max() <= 4095 and arr.max() - arr.min() > 1500
    # MONOCHROME1 stores inverted values: the lungs (dark on screen) hold high numbers
    mono1 = next(gt for gt in dicoms if gt["photometric"] == "MONOCHROME1")
    raw = pydicom.dcmread(store.files_dir / f"{mono1['source_id']}.dcm").pixel_array.astype(float)
    shown = _pixels(store.files_dir / f"{mono1['source_id']}.dcm").astype(float)
    assert np.corrcoef(raw.ravel(), shown.ravel())[0, 1] < -0.99


NAMES = {"Cardiomegaly": r"cardiomegaly|heart is enlarged|heart size", "Effusion": r"effusion",
         "Nodule": r"nodul", "Mass": r"mass", "Pneumothorax": r"pneumothorax", "Infiltration": r"infiltra",
         "Atelectasis": r"atelectasis"}


def test_reports_state_findings_negations_and_uncertainty(sample):
    store, truth = sample
    items = {it.source_id: it for it in store.iter_items()}
    for sid, gt in truth.items():
        text = items[sid].text.lower()
        for f in gt["findings"]:
            assert gt["report_labels"][f] in ("positive", "uncertain"), (sid, f)
            assert re.search(NAMES[f], text), (sid, f, text)
        for f, state in gt["report_labels"].items():
            if f != "No Finding":
                assert re.search(NAMES[f], text), (sid, f, text)
            if state == "negative" and f != "No Finding":
                assert re.search(r"\bno\b|without|normal", text)
        assert gt["report_labels"]["No Finding"] == ("negative" if gt["findings"] else gt["report_labels"]["No Finding"])
        for span in gt["text_identifiers"]:
            assert items[sid].text[span["start"]:span["end"]] == span["text"]
    corpus = "\n".join(it.text for it in items.values())
    for needle in ("FINDINGS:", "IMPRESSION:", "No pneumothorax", "XXXX", "MRN", "555-01"):
        assert needle in corpus, needle
    assert re.search(r"(?m)^FINDINGS: \S", corpus)              # header on the same line as its text
    assert re.search(r"cannot exclude|possible|questionable", corpus, re.I)
    states = Counter(s for gt in truth.values() for s in gt["report_labels"].values())
    assert states["positive"] and states["negative"] and states["uncertain"]


def test_planted_duplicates(sample):
    store, truth = sample
    items = {it.source_id: it for it in store.iter_items()}
    exact = [gt for gt in truth.values() if gt["dup_of"]]
    near = [gt for gt in truth.values() if gt["near_dup_of"]]
    assert len(exact) == 3 and len(near) == 3
    for gt in exact:
        assert items[gt["source_id"]].sha256 == items[gt["dup_of"]].sha256
        assert gt["source_id"] != gt["dup_of"]
    for gt in near:
        a = _pixels(store.resolve(items[gt["source_id"]])).astype(float)
        b = _pixels(store.resolve(items[gt["near_dup_of"]])).astype(float)
        assert items[gt["source_id"]].sha256 != items[gt["near_dup_of"]].sha256
        assert np.abs(a - b).mean() < 10


def test_rerun_resumes_and_matches_a_clean_run(tmp_path):
    cfg = SampleConfig(n=20, seed=2, size=64)
    generate(cfg, tmp_path / "full")
    full = (tmp_path / "full" / "raw" / "sample" / "items.jsonl").read_bytes()
    part = tmp_path / "part" / "raw" / "sample"
    shutil.copytree(tmp_path / "full" / "raw" / "sample", part)
    lines = full.split(b"\n")
    (part / "items.jsonl").write_bytes(b"\n".join(lines[:7]) + b"\n" + lines[7][:30])   # killed mid-line
    (part / "stats.json").unlink()
    generate(cfg, tmp_path / "part")
    assert (part / "items.jsonl").read_bytes() == full
    generate(cfg, tmp_path / "part")                       # done: nothing appended
    assert (part / "items.jsonl").read_bytes() == full


def test_cli_sample_and_refusing_other_settings(tmp_path, capsys):
    from medharvest.cli import main

    assert main(["sample", "--out", str(tmp_path), "--n", "20", "--size", "64", "-q"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["items"] == 20
    assert (tmp_path / "raw" / "sample" / "run.json").is_file()
    assert main(["sample", "--out", str(tmp_path), "--n", "20", "--size", "64", "--seed", "5", "-q"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["sample", "--out", str(tmp_path / "x"), "--n", "3"]) == 2


@pytest.mark.tesseract
def test_burned_in_text_is_readable_by_tesseract(sample):
    if shutil.which("tesseract") is None:
        pytest.skip("needs the tesseract binary (apt-get install tesseract-ocr)")
    import pytesseract

    store, truth = sample
    norm = lambda s: re.sub(r"[^A-Z0-9]", "", s.upper())  # noqa: E731
    found = total = 0
    for gt in truth.values():
        if not gt["burned_in"] or gt["dup_of"] or gt["near_dup_of"]:
            continue
        path = store.files_dir / f"{gt['source_id']}.{'dcm' if gt['is_dicom'] else 'png'}"
        text = norm(pytesseract.image_to_string(Image.fromarray(_pixels(path)), config="--psm 11"))
        for box in gt["burned_in"]:
            total += 1
            found += norm(box["text"]) in text
            assert 0 <= box["left"] and box["left"] + box["width"] <= CFG.size
            assert 0 <= box["top"] and box["top"] + box["height"] <= CFG.size
    assert total >= 10
    print(f"tesseract read {found}/{total}")
    assert found / total >= 0.8, f"tesseract read {found} of {total} burned-in lines"

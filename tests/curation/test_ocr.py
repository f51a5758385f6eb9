"""Burned-in identifier OCR with real Tesseract, identifier rules, redaction check, scanned PDFs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from curation.ocr.identifiers import classify_token, find_identifiers
from curation.ocr.tesseract import Word
from tests.curation.rawstores import burn_text, cxr_like

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs the tesseract binary (apt-get install tesseract-ocr)")


@pytest.mark.parametrize("text, kind", [
    ("01.09.2012", "date"), ("12/03/2019", "date"), ("2019-03-12", "date"), ("19760616", "date"), ("12-Mar-2019", "date"),
    ("Q1.09.201", "date"),  # OCR misreads of a date
    ("045Y", "age"), ("4815162", "id"), ("E801911A", "id"), ("DAVIDSON", "name"), ("KAUFMAN^SCOTT", "name"),
    ("PORTABLE", None), ("Semi-Upright", None), ("FLAIR", None), ("AXIAL", None), ("Arterial", None), ("DOB:", None), ("AP", None), ("ID", None), ("L", None),
])
def test_classify_token(text, kind):
    assert classify_token(text) == kind


def test_deny_list_from_header_matches_ocr_misreads():
    deny = frozenset({"kaufman"})
    assert classify_token("KAUPMAN", 50, deny) == "name"    # one character misread, low confidence
    assert classify_token("Kaufman", 50, deny) == "name"


def w(text, left, top=10, width=40, height=12, conf=90.0):
    return Word(text, left, top, width, height, conf)


def test_line_context_flags_banner_words_but_not_labels():
    words = [w("DOB:", 5), w("07.22.1943", 50), w("[M]", 100), w("Portable", 300, top=200),
             w("SMITH", 5, top=40), w("JOHN", 60, top=40), w("45", 5, top=70), w("Y", 30, top=70, width=10)]
    found = {(x.text, k) for x, k in find_identifiers(words)}
    assert ("07.22.1943", "date") in found and ("[M]", "other") in found
    assert ("SMITH", "name") in found and ("JOHN", "name") in found
    assert ("45", "age") in found and ("Y", "age") in found
    split_date = [w("12", 5, top=100, width=20), w("MAR", 30, top=100), w("2015", 75, top=100)]
    assert {k for _, k in find_identifiers(split_date)} == {"date"}
    assert {k for _, k in find_identifiers([w("Jan", 5, top=130), w("5,", 50, top=130, width=15), w("2012", 70, top=130)])} == {"date"}
    assert not any(t in ("DOB:", "Portable") for t, _ in found)


@needs_tesseract
@pytest.mark.tesseract
def test_scan_redact_and_verify_synthetic_banner():
    from curation.ocr.phi_scan import scan_and_redact

    img = burn_text(cxr_like(size=512, seed=3), ["SMITH, JOHN", "ID 4815162", "12/03/2019"], size=22)
    res = scan_and_redact(img, deny=["SMITH", "JOHN"])
    kinds = {b["text"].strip(","): b["kind"] for b in res.boxes}
    assert kinds.get("SMITH") == "name" and kinds.get("4815162") == "id" and kinds.get("12/03/2019") == "date"
    assert res.redacted and res.verified_clean is True
    for b in res.boxes:  # blacked out in the returned pixels, original untouched
        assert res.pixels[b["top"]:b["top"] + b["height"], b["left"]:b["left"] + b["width"]].max() == 0
    assert img[12:30, 9:80].max() == 255
    clean = scan_and_redact(cxr_like(size=256, seed=5))
    assert clean.boxes == [] and clean.redacted is False


@needs_tesseract
@pytest.mark.tesseract
@pytest.mark.shared
def test_recall_on_pseudo_phi_dicoms(shared):
    """Box recall on the real TCIA images with synthetic PHI (presidio's ground truth)."""
    from curation.images.decode import decode_file
    from curation.ocr.phi_scan import scan_pixels
    from curation.ocr.score import presidio_truth, score_image, totals

    root = shared("data", "pseudo_phi_dicom_burned_in")
    gt = json.loads((root / "ground_truth_0_and_2.json").read_text())
    counts = []
    for name, fname in [("sample_data/0_ORIGINAL.dcm", "0_ORIGINAL_compressed.dcm"), ("sample_data/2_ORIGINAL.dcm", "2_ORIGINAL.dcm")]:
        dec = decode_file(root / fname)
        boxes = scan_pixels(dec.pixels, dec.deny)
        counts.append(score_image(boxes, presidio_truth(gt, name), dec.pixels.shape[:2]))
    t = totals(counts)
    assert t["gt_boxes"] == 10
    assert t["recall"] >= 0.95   # measured 1.0
    assert t["precision"] >= 0.8  # measured 1.0


@needs_tesseract
@pytest.mark.tesseract
def test_phi_scan_cli_writes_phi_json_and_redacted_images(tmp_path):
    from medharvest.cli import main

    a = tmp_path / "a.png"
    Image.fromarray(burn_text(cxr_like(size=400, seed=2), ["DOE, JANE", "03/04/2021"], size=20)).save(a)
    b = tmp_path / "b.png"
    Image.fromarray(cxr_like(size=200, seed=4)).save(b)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    out = tmp_path / "phi.json"
    rc = main(["curate", "phi-scan", str(a), str(b), str(bad), "--out", str(out), "--redact",
               "--redacted-dir", str(tmp_path / "red"), "--workers", "2", "-q"])
    assert rc == 0
    entries = {e["path"]: e for e in json.loads(out.read_text())}
    ea = entries[str(a)]
    assert {"left", "top", "width", "height", "text", "kind", "confidence"} <= set(ea["boxes"][0])
    assert {"name", "date"} <= {x["kind"] for x in ea["boxes"]}
    assert ea["verified_clean"] is True
    red = np.asarray(Image.open(ea["redacted_path"]))
    x = ea["boxes"][0]
    assert red[x["top"]:x["top"] + x["height"], x["left"]:x["left"] + x["width"]].max() == 0
    assert entries[str(b)]["boxes"] == []
    assert entries[str(bad)]["status"] == "error"
    assert main(["curate", "phi-scan", str(a), "--out", str(out), "--redact"]) == 2  # no --redacted-dir


def _text_pdf(path, pages: list[str]):
    ims = []
    for text in pages:
        im = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
        d = ImageDraw.Draw(im)
        font = ImageFont.load_default(size=36)
        for i, line in enumerate(text.splitlines()):
            d.text((100, 120 + i * 60), line, fill=0, font=font)
        ims.append(im)
    ims[0].save(path, "PDF", resolution=150, save_all=True, append_images=ims[1:])


@needs_tesseract
@pytest.mark.tesseract
def test_scanned_pdf_report_to_text(tmp_path):
    from curation.ocr.pdf import PdfError, ocr_pdf

    pdf = tmp_path / "report.pdf"
    _text_pdf(pdf, ["FINDINGS: No pneumothorax.\nSmall left pleural effusion.", "IMPRESSION: Cardiomegaly."])
    pages = ocr_pdf(pdf, dpi=150)
    assert [p["page"] for p in pages] == [1, 2]
    assert "pneumothorax" in pages[0]["text"].lower() and "effusion" in pages[0]["text"].lower()
    assert "\n" in pages[0]["text"]
    assert "cardiomegaly" in pages[1]["text"].lower()
    assert all(0.7 <= p["confidence"] <= 1.0 for p in pages)

    import pypdfium2 as pdfium

    empty = tmp_path / "empty.pdf"
    doc = pdfium.PdfDocument.new()
    doc.save(str(empty))
    with pytest.raises(PdfError, match="no pages"):
        ocr_pdf(empty)
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(PdfError, match="cannot open"):
        ocr_pdf(junk)


def test_tiny_texture_words_are_not_names():
    words = [w("TENS", 65, top=180, width=13, height=5), w("KAUFMAN", 1, top=0, width=72, height=11)]
    found = {x.text for x, _ in find_identifiers(words)}
    assert found == {"KAUFMAN"}
    assert {x.text for x, _ in find_identifiers(words, deny=["TENS"])} == {"KAUFMAN", "TENS"}

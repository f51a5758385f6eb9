"""Golden phi.json: ``medharvest curate phi-scan`` on the shared pseudo-PHI images (real Tesseract).

The golden file (``golden/phi_scan_pseudo_phi.json``) holds OUR earlier output, per image: its
size, status and identifier boxes (kind + pixel box), never the OCR text (and no shared data).
Boxes must match one-to-one, same kind, every edge within ``max(min_px, rel * box height)``.

Regenerate after an intended change (then review the diff, and keep the recall check green):
``uv run python -m tests.curation.test_ocr_golden --regen``
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "phi_scan_pseudo_phi.json"
#: Images of ../shared/data/pseudo_phi_dicom_burned_in scanned (2_ORIGINAL.png renders 2_ORIGINAL.dcm).
IMAGES = ("0_ORIGINAL_compressed.dcm", "2_ORIGINAL.dcm", "RGB_ORIGINAL.dcm", "1_ORIGINAL.png", "2_ORIGINAL.png",
          "3_ORIGINAL.png", "0_ORIGINAL_no_pixels.dcm")
TOLERANCE = {"min_px": 4, "rel_height": 0.25}

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs the tesseract binary (apt-get install tesseract-ocr)")


def run_phi_scan(root: Path, out_dir: Path) -> dict[str, dict]:
    """phi.json entries by file name (``curate phi-scan --redact``, 2 workers)."""
    from medharvest.cli import main

    out = out_dir / "phi.json"
    rc = main(["curate", "phi-scan", *[str(root / n) for n in IMAGES], "--out", str(out), "--redact",
               "--redacted-dir", str(out_dir / "redacted"), "--workers", "2", "-q"])
    assert rc == 0
    return {Path(e["path"]).name: e for e in json.loads(out.read_text())}


def summarise(entries: dict[str, dict]) -> dict:
    """The golden form of phi.json entries: no text, no timings, no paths."""
    images = {}
    for name in IMAGES:
        e = entries[name]
        images[name] = {"status": e["status"], "width": e.get("width"), "height": e.get("height"),
                        "boxes": [{k: b[k] for k in ("kind", "left", "top", "width", "height")}
                                  for b in sorted(e["boxes"], key=lambda b: (b["top"], b["left"]))]}
    return {"tolerance": TOLERANCE, "images": images}


def _close(a: dict, b: dict, tol: dict) -> bool:
    t = max(tol["min_px"], tol["rel_height"] * b["height"])
    edges = lambda x: (x["left"], x["top"], x["left"] + x["width"], x["top"] + x["height"])  # noqa: E731
    return a["kind"] == b["kind"] and all(abs(p - q) <= t for p, q in zip(edges(a), edges(b)))


def compare(got: dict, golden: dict) -> list[str]:
    """Differences between a summarised phi.json and the golden one (empty: equal within tolerance)."""
    problems: list[str] = []
    tol = golden["tolerance"]
    for name, want in golden["images"].items():
        have = got["images"].get(name)
        if have is None:
            problems.append(f"{name}: missing")
            continue
        for k in ("status", "width", "height"):
            if have[k] != want[k]:
                problems.append(f"{name}: {k} {have[k]!r} != golden {want[k]!r}")
        unmatched = list(have["boxes"])
        for w in want["boxes"]:
            hit = next((h for h in unmatched if _close(h, w, tol)), None)
            if hit is None:
                problems.append(f"{name}: golden box {w} not found")
            else:
                unmatched.remove(hit)
        problems.extend(f"{name}: extra box {h}" for h in unmatched)
    return problems


def test_compare_flags_moved_missing_and_extra_boxes():
    box = {"kind": "name", "left": 100, "top": 10, "width": 80, "height": 20}
    golden = {"tolerance": TOLERANCE, "images": {"a": {"status": "ok", "width": 9, "height": 9, "boxes": [box]}}}
    same = {"images": {"a": {"status": "ok", "width": 9, "height": 9, "boxes": [dict(box, left=104, width=78)]}}}
    assert compare(same, golden) == []
    moved = {"images": {"a": {"status": "ok", "width": 9, "height": 9, "boxes": [dict(box, top=16)]}}}
    assert any("not found" in p for p in compare(moved, golden)) and any("extra" in p for p in compare(moved, golden))
    kind = {"images": {"a": {"status": "ok", "width": 9, "height": 9, "boxes": [dict(box, kind="date")]}}}
    assert compare(kind, golden) != []
    extra = {"images": {"a": {"status": "ok", "width": 9, "height": 9, "boxes": [box, dict(box, left=300)]}}}
    assert compare(extra, golden) == ["a: extra box " + str(dict(box, left=300))]
    assert compare({"images": {}}, golden) == ["a: missing"]


@needs_tesseract
@pytest.mark.tesseract
@pytest.mark.shared
def test_phi_scan_matches_golden(shared, tmp_path):
    from curation.ocr.score import presidio_truth, score_image

    root = shared("data", "pseudo_phi_dicom_burned_in")
    entries = run_phi_scan(root, tmp_path)
    golden = json.loads(GOLDEN.read_text())
    problems = compare(summarise(entries), golden)
    assert not problems, "\n".join(problems)
    # every image with identifiers was redacted and the second OCR pass found none left
    for name, e in entries.items():
        if e["boxes"]:
            assert e["verified_clean"] is True, name
    # the golden itself is right where presidio's ground truth exists (word boxes of images 0 and 2)
    gt = json.loads((root / "ground_truth_0_and_2.json").read_text())
    for key, name in (("sample_data/0_ORIGINAL.dcm", "0_ORIGINAL_compressed.dcm"), ("sample_data/2_ORIGINAL.dcm", "2_ORIGINAL.dcm")):
        g = golden["images"][name]
        s = score_image(g["boxes"], presidio_truth(gt, key), (g["height"], g["width"]))
        assert s["gt_found"] == s["gt"] == 5 and s["pred_correct"] == s["pred"] == 5, (name, s)


def _regen() -> None:
    from tests.conftest import SHARED

    root = SHARED / "data" / "pseudo_phi_dicom_burned_in"
    with tempfile.TemporaryDirectory() as tmp:
        summary = summarise(run_phi_scan(root, Path(tmp)))
    lines = ["{", f' "tolerance": {json.dumps(summary["tolerance"])},', ' "images": {']
    for i, (name, img) in enumerate(summary["images"].items()):
        head = {k: img[k] for k in ("status", "width", "height")}
        boxes = ",\n".join(f"   {json.dumps(b)}" for b in img["boxes"])
        lines.append(f'  {json.dumps(name)}: {json.dumps(head)[:-1]}, "boxes": [' + (f"\n{boxes}\n  " if boxes else "")
                     + "]}" + ("," if i < len(summary["images"]) - 1 else ""))
    lines += [" }", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == summary
    GOLDEN.write_text(text)
    print(f"wrote {GOLDEN}: {sum(len(v['boxes']) for v in summary['images'].values())} boxes")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        sys.exit(__doc__)
    _regen()

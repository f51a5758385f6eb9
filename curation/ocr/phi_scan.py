"""Burned-in identifiers: find them, black them out, check that a second OCR pass finds none.

``phi_scan(paths, out=phi.json)`` is the stand-alone stage (``medharvest curate phi-scan``);
:func:`scan_and_redact` is what ``curate run`` calls per image. Box coordinates are pixels of
the decoded input image (for DICOM: of the pixel matrix).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from manifests.registry import lookup


@dataclasses.dataclass(frozen=True)
class PhiScanConfig:
    passes: tuple[str, ...] = ("bright", "tophat")
    psm: int = 11
    min_conf: float = 20.0          # Tesseract words below this are dropped
    margin: int = 3                 # pixels added around a box when redacting
    verify: bool = True             # second OCR pass over the redacted image
    workers: int = 2

    def __post_init__(self):
        from curation.ocr.tesseract import PASSES

        for p in self.passes:
            lookup(PASSES, p, "OCR pass")


def scan_pixels(pixels: np.ndarray, deny: Sequence[str] = (), cfg: PhiScanConfig = PhiScanConfig()) -> list[dict]:
    """Identifier boxes ``{left, top, width, height, text, kind, confidence}`` in ``pixels``."""
    from curation.ocr.identifiers import find_identifiers
    from curation.ocr.tesseract import ocr_words

    words = ocr_words(pixels, passes=cfg.passes, psm=cfg.psm, min_conf=cfg.min_conf)
    return [
        {"left": w.left, "top": w.top, "width": w.width, "height": w.height, "text": w.text, "kind": kind,
         "confidence": round(w.confidence / 100.0, 3)}
        for w, kind in find_identifiers(words, deny)
    ]


def redact(pixels: np.ndarray, boxes: Sequence[dict], margin: int = 3) -> np.ndarray:
    """A copy of ``pixels`` with every box (grown by ``margin``) filled with black."""
    out = pixels.copy()
    h, w = out.shape[:2]
    for b in boxes:
        x0, y0 = max(0, int(b["left"]) - margin), max(0, int(b["top"]) - margin)
        x1, y1 = min(w, int(b["left"]) + int(b["width"]) + margin), min(h, int(b["top"]) + int(b["height"]) + margin)
        out[y0:y1, x0:x1] = 0
    return out


@dataclasses.dataclass
class ScanResult:
    boxes: list[dict]
    pixels: np.ndarray                  # redacted when boxes were found and redaction asked
    redacted: bool
    verified_clean: bool | None         # None: not verified (nothing to verify, or verify off)
    residual: list[dict]                # identifiers the verification pass still found
    ocr_seconds: float


def scan_and_redact(
    pixels: np.ndarray, deny: Sequence[str] = (), cfg: PhiScanConfig = PhiScanConfig(), *, do_redact: bool = True
) -> ScanResult:
    """Scan; when identifiers are found and ``do_redact``, redact and verify (twice at most)."""
    t0 = time.perf_counter()
    boxes = scan_pixels(pixels, deny, cfg)
    if not boxes or not do_redact:
        return ScanResult(boxes, pixels, False, None, [], time.perf_counter() - t0)
    red = redact(pixels, boxes, cfg.margin)
    residual: list[dict] = []
    verified: bool | None = None
    if cfg.verify:
        residual = scan_pixels(red, deny, cfg)
        if residual:  # one more round: black out what the second look found
            red = redact(red, residual, cfg.margin)
            residual = scan_pixels(red, deny, cfg)
        verified = not residual
    return ScanResult(boxes, red, True, verified, residual, time.perf_counter() - t0)


# --- the stand-alone stage -----------------------------------------------------------------

def _scan_one(args: tuple[str, str | None, PhiScanConfig, bool]) -> dict:
    path, redacted_dir, cfg, do_redact = args
    from curation.images.decode import decode_file
    from curation.images.errors import DecodeError
    from curation.images.store import encode_png, to_8bit

    t0 = time.perf_counter()
    entry: dict = {"path": path, "boxes": []}
    try:
        dec = decode_file(path)
    except DecodeError as err:
        entry.update(status="error", error=str(err), seconds={"decode": time.perf_counter() - t0, "ocr": 0.0})
        return entry
    t_dec = time.perf_counter() - t0
    res = scan_and_redact(dec.pixels, dec.deny, cfg, do_redact=do_redact and redacted_dir is not None)
    entry["boxes"] = res.boxes
    entry["width"], entry["height"] = dec.width, dec.height
    t_w = time.perf_counter()
    if do_redact and redacted_dir is not None:
        dest = Path(redacted_dir) / (Path(path).stem + ".redacted.png")
        dest.parent.mkdir(parents=True, exist_ok=True)
        from manifests.io import atomic_path

        with atomic_path(dest, ".png") as tmp:
            tmp.write_bytes(encode_png(to_8bit(res.pixels)))
        entry["redacted_path"] = str(dest)
        entry["verified_clean"] = True if not res.boxes else bool(res.verified_clean)
        if res.residual:
            entry["residual"] = res.residual
    entry["status"] = "ok"
    entry["seconds"] = {"decode": t_dec, "ocr": res.ocr_seconds, "write": time.perf_counter() - t_w}
    return entry


def phi_scan(
    paths: Sequence[str | os.PathLike], out: str | os.PathLike, *, cfg: PhiScanConfig = PhiScanConfig(),
    redacted_dir: str | os.PathLike | None = None,
) -> dict:
    """Scan ``paths`` for burned-in identifiers, write ``out`` (phi.json); returns a summary.

    With ``redacted_dir``: redacted copies are written there and each entry records the second
    OCR pass (``verified_clean``). A file that cannot be decoded gets ``status="error"``.
    """
    from manifests.io import write_json_atomic

    os.environ["OMP_THREAD_LIMIT"] = "1"
    jobs = [(str(p), str(redacted_dir) if redacted_dir else None, cfg, redacted_dir is not None) for p in paths]
    t0 = time.perf_counter()
    if cfg.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
            entries = list(pool.map(_scan_one, jobs))
    else:
        entries = [_scan_one(j) for j in jobs]
    wall = time.perf_counter() - t0
    write_json_atomic(out, entries)
    return {
        "images": len(entries),
        "errors": sum(e.get("status") == "error" for e in entries),
        "images_with_identifiers": sum(bool(e["boxes"]) for e in entries),
        "boxes": sum(len(e["boxes"]) for e in entries),
        "not_clean_after_redaction": sum(e.get("verified_clean") is False for e in entries),
        "seconds": round(wall, 3),
        "images_per_s": round(len(entries) / wall, 3) if wall else None,
        "ocr_seconds": round(sum(e.get("seconds", {}).get("ocr", 0.0) for e in entries), 3),
        "other_seconds": round(sum(e.get("seconds", {}).get("decode", 0.0) + e.get("seconds", {}).get("write", 0.0) for e in entries), 3),
    }

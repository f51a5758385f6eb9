"""The image half of ``curate run``, one raw item per call, run in worker processes.

decode (:mod:`curation.images`) -> display range -> burned-in identifier scan + redaction
(:mod:`curation.ocr.phi_scan`) -> quality flags -> content-addressed PNG + pHashes. A scanned PDF
report is OCR'd to text instead. Returns the image columns of the record plus per-stage seconds;
a file that cannot be decoded comes back as ``status="error"`` (never an exception).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from curation.config import CurateConfig

#: Decoded formats not scanned for burned-in text: slide thumbnails and volume slices carry none.
NO_OCR_FORMATS = frozenset({"slide", "dicom-wsi", "nifti"})


def image_job(job: dict) -> dict:
    """Decode, scan/redact, store one item's file. Returns the image columns + timings."""
    from curation.images.decode import decode_file, sniff
    from curation.images.errors import DecodeError
    from curation.images.store import phash_hex, store_png, to_display
    from curation.quality import QualityConfig, quality_flags

    cfg: CurateConfig = job["cfg"]
    path = Path(job["path"])
    t0 = time.perf_counter()
    rec: dict = {"quality_flags": [], "phi_flags": [], "seconds": {}}
    expected = job.get("sha256")
    if expected and path.is_file():
        import hashlib

        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != expected.lower():
            rec.update(status="error", error=f"{path.name}: sha256 {h.hexdigest()[:12]}... differs from the raw item's "
                                             f"{expected[:12]}... (file changed or corrupted since download)")
            rec["quality_flags"].append("checksum_mismatch")
            rec["seconds"]["decode"] = time.perf_counter() - t0
            return rec
    try:
        if sniff(path) == "pdf":
            return pdf_job(path, rec, t0)
        dec = decode_file(path, max_pixels=cfg.max_pixels, thumbnail_size=cfg.thumbnail_size, keep_16bit=cfg.keep_16bit)
    except DecodeError as err:
        rec.update(status="error", error=str(err))
        rec["quality_flags"].append(err.flag)
        rec["seconds"]["decode"] = time.perf_counter() - t0
        return rec
    t1 = time.perf_counter()
    rec["seconds"]["decode"] = t1 - t0
    pixels = to_display(dec.pixels, keep_16bit=cfg.keep_16bit)
    rec["phi_flags"].extend(dec.header_phi)
    ocr_info: dict = {}
    residual_error = None
    if cfg.ocr and dec.format not in NO_OCR_FORMATS:
        from curation.ocr.phi_scan import PhiScanConfig, scan_and_redact

        res = scan_and_redact(pixels, dec.deny, PhiScanConfig(passes=cfg.ocr_passes, verify=cfg.verify, workers=1),
                              do_redact=cfg.redact)
        pixels = res.pixels
        for b in res.boxes:
            rec["phi_flags"].append({"where": "image", "kind": b["kind"], "left": b["left"], "top": b["top"],
                                     "width": b["width"], "height": b["height"], "confidence": b["confidence"],
                                     "redacted": res.redacted})
        if res.boxes:
            rec["quality_flags"].append("phi_in_pixels")
        if res.verified_clean is False:
            rec["quality_flags"].append("phi_residual")
            residual_error = (f"{path.name}: identifiers still found in the pixels after redaction "
                              f"({len(res.residual)} box(es)); the image needs a human look")
        ocr_info = {"identifier_boxes": len(res.boxes), "redacted": res.redacted, "verified_clean": res.verified_clean}
    rec["seconds"]["ocr"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    rec["quality_flags"].extend(quality_flags(pixels, QualityConfig(min_side=cfg.min_side, max_aspect=cfg.max_aspect)))
    rel, sha = store_png(pixels, job["out"], compress_level=cfg.png_compress_level)
    rec.update(
        status="error" if residual_error else "ok", error=residual_error, image_path=rel, image_sha256=sha, phash=phash_hex(pixels),
        width=int(pixels.shape[1]), height=int(pixels.shape[0]), bit_depth=16 if pixels.dtype.itemsize == 2 else 8,
        modality=dec.modality, body_part=dec.body_part, view=dec.view, header_patient_id=dec.patient_id,
        deny=list(dec.deny),  # header identifiers: used on the text in memory, never stored
        image_meta={"format": dec.format, **dec.meta, **({"ocr": ocr_info} if ocr_info else {}),
                    "phash256": phash_hex(pixels, hash_size=16)},
    )
    if cfg.wsi_tiles and dec.format in ("slide", "dicom-wsi"):
        rec["image_meta"]["tiles"] = _store_tiles(path, cfg, job["out"])
    rec["seconds"]["store"] = time.perf_counter() - t2
    return rec


def _store_tiles(path: Path, cfg: CurateConfig, out: str) -> list[dict] | dict:
    """Tissue tiles of a whole-slide image into the store: ``[{x, y, magnification, image_path}]``."""
    from curation.images.errors import DecodeError
    from curation.images.store import store_png
    from curation.images.wsi import wsi_tiles

    tiles = []
    try:
        for (x, y), tile in wsi_tiles(path, magnification=cfg.wsi_magnification, tile_size=cfg.wsi_tile_size,
                                      max_tiles=cfg.wsi_tiles):
            rel, _ = store_png(tile, out, compress_level=cfg.png_compress_level)
            tiles.append({"x": x, "y": y, "magnification": cfg.wsi_magnification, "image_path": rel})
    except DecodeError as err:  # e.g. a DICOM-WSI OpenSlide cannot open: the thumbnail stands alone
        return {"error": str(err)}
    return tiles


def pdf_job(path: Path, rec: dict, t0: float) -> dict:
    """A scanned report: OCR'd to text (no image)."""
    from curation.ocr.pdf import PdfError, ocr_pdf

    try:
        pages = ocr_pdf(path)
    except PdfError as err:
        rec.update(status="error", error=str(err))
        rec["quality_flags"].append("unreadable")
        rec["seconds"]["ocr"] = time.perf_counter() - t0
        return rec
    rec.update(status="ok", error=None, ocr_text="\n\n".join(p["text"] for p in pages),
               image_meta={"format": "pdf", "pages": [{"page": p["page"], "confidence": p["confidence"]} for p in pages]})
    rec["quality_flags"].append("no_image")
    rec["seconds"]["ocr"] = time.perf_counter() - t0
    return rec


def worker_init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"



"""Normalised PNGs in a content-addressed store: ``<out>/images/ab/<sha256>.png``.

The sha256 is of the stored PNG bytes, so identical normalised pixels give one file that every
record pointing at it shares (exact duplicates cost nothing). Writes are atomic (temp + rename)
and skipped when the file exists, so concurrent workers and re-runs are safe.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

IMAGES_DIR = "images"


def to_display(pixels: np.ndarray, *, keep_16bit: bool = False) -> np.ndarray:
    """uint8 grey/RGB, or uint16 grey when ``keep_16bit`` (16-bit RGB is always scaled to 8)."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16 and (keep_16bit and pixels.ndim == 2):
        return pixels
    if pixels.dtype == np.uint16:
        return np.round(pixels.astype(np.float32) / 257.0).astype(np.uint8)
    a = pixels.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    return np.round((a - lo) / ((hi - lo) or 1.0) * 255).astype(np.uint8)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    return to_display(pixels, keep_16bit=False)


def encode_png(pixels: np.ndarray, compress_level: int = 6) -> bytes:
    """Deterministic PNG bytes of a uint8 (H,W)/(H,W,3) or uint16 (H,W) array."""
    from PIL import Image

    if pixels.dtype == np.uint16:
        im = Image.fromarray(np.ascontiguousarray(pixels, dtype="<u2"))  # mode I;16
    else:
        im = Image.fromarray(pixels)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def rel_path(sha256: str) -> str:
    return f"{IMAGES_DIR}/{sha256[:2]}/{sha256}.png"


def store_png(pixels: np.ndarray, out_dir: str | os.PathLike, *, compress_level: int = 6) -> tuple[str, str]:
    """Write ``pixels`` into the store under ``out_dir``; returns (relative path, sha256)."""
    data = encode_png(pixels, compress_level)
    sha = hashlib.sha256(data).hexdigest()
    rel = rel_path(sha)
    dest = Path(out_dir) / rel
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{sha[:8]}.", suffix=".tmp", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return rel, sha


def phash_hex(pixels: np.ndarray, hash_size: int = 8) -> str:
    """Perceptual hash (imagehash.phash of the 8-bit grey image): 64 bits = 16 hex digits by
    default; ``hash_size=16`` gives the 256-bit hash used to confirm near-duplicates."""
    import imagehash
    from PIL import Image

    a = to_8bit(pixels)
    im = Image.fromarray(a).convert("L")
    return str(imagehash.phash(im, hash_size=hash_size))

"""JPEG / PNG / TIFF / BMP ... through PIL, with PIL's decompression-bomb limit made an error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from curation.images.decoded import Decoded, check_pixels
from curation.images.errors import DecodeError


def decode_raster(path: Path, *, max_pixels: int, **_) -> Decoded:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                check_pixels(im.width * im.height, max_pixels, path.name)
                fmt = (im.format or "raster").lower()
                n_frames = getattr(im, "n_frames", 1)
                if n_frames > 1:
                    im.seek(n_frames // 2)
                arr = _to_array(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DecodeError(f"{path.name}: decompression bomb: {err}", flag="decompression_bomb") from err
    except UnidentifiedImageError as err:
        raise DecodeError(f"{path.name}: not an image PIL can identify") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise DecodeError(f"{path.name}: cannot decode image ({err})") from err
    meta = {"file_format": fmt}
    if n_frames > 1:
        meta["frames"] = n_frames
    return Decoded(pixels=arr, format=fmt, meta=meta)


def _to_array(im) -> np.ndarray:
    """PIL image -> (H, W) uint8/uint16 or (H, W, 3) uint8; alpha composited on black."""
    mode = im.mode
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im).astype(np.uint16)
    if mode in ("I", "F"):
        a = np.asarray(im).astype(np.float64)
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0 and hi <= 65535 and np.all(a == np.round(a)):
            return a.astype(np.uint16)
        return ((a - lo) / (hi - lo or 1.0) * 65535).round().astype(np.uint16)
    if mode == "LA":
        return np.asarray(im.convert("L"))
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode == "RGBA":
        bg = im.convert("RGB")
        return np.asarray(bg)
    rgb = np.asarray(im.convert("RGB"))
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb

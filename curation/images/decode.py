"""Decode any supported image file into a :class:`Decoded` (pixels + safe metadata).

The format is sniffed from the file's first bytes (and its name for NIfTI / slide formats), then
looked up in :data:`DECODERS`. Every decoder enforces ``max_pixels`` (PIL's decompression-bomb
limit by default) *before* allocating the full image.
"""

from __future__ import annotations

import gzip
import warnings
from collections.abc import Callable
from pathlib import Path


from curation.images.decoded import Decoded
from curation.images.errors import DecodeError

#: PIL's default ``Image.MAX_IMAGE_PIXELS`` (about 89.5 MP); images above it are refused.
DEFAULT_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)

SLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif", ".svslide")


def sniff(path: Path) -> str:
    """The format name of ``path``: dicom, nifti, slide, pdf or raster."""
    name = path.name.lower()
    try:
        with open(path, "rb") as fh:
            head = fh.read(352)
    except OSError as err:
        raise DecodeError(f"cannot read '{path.name}': {err.strerror or err}") from err
    if not head:
        raise DecodeError(f"'{path.name}' is empty")
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if name.endswith((".nii", ".nii.gz")) or (len(head) >= 348 and head[344:348] in (b"n+1\0", b"ni1\0")):
        return "nifti"
    if head[:2] == b"\x1f\x8b" and name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as fh:
                inner = fh.read(352)
        except (OSError, EOFError) as err:
            raise DecodeError(f"'{path.name}': corrupt gzip ({err})") from err
        if len(inner) >= 348 and inner[344:348] in (b"n+1\0", b"ni1\0"):
            return "nifti"
    if head[:5] == b"%PDF-":
        return "pdf"
    if name.endswith(SLIDE_SUFFIXES):
        return "slide"
    if name.endswith((".dcm", ".dicom")):
        return "dicom"  # DICOM without the 128-byte preamble
    return "raster"


def _decode_dicom(path: Path, **kw) -> Decoded:
    from curation.images.dicom import decode_dicom

    return decode_dicom(path, **kw)


def _decode_nifti(path: Path, **kw) -> Decoded:
    from curation.images.volume import decode_nifti

    return decode_nifti(path, **kw)


def _decode_slide(path: Path, **kw) -> Decoded:
    from curation.images.wsi import decode_wsi

    return decode_wsi(path, **kw)


def _decode_raster(path: Path, **kw) -> Decoded:
    from curation.images.raster import decode_raster

    return decode_raster(path, **kw)


def _decode_pdf(path: Path, **kw) -> Decoded:
    raise DecodeError(f"'{path.name}' is a PDF document, not an image (scanned reports go through curation.ocr.pdf)")


DECODERS: dict[str, Callable[..., Decoded]] = {
    "dicom": _decode_dicom,
    "nifti": _decode_nifti,
    "slide": _decode_slide,
    "raster": _decode_raster,
    "pdf": _decode_pdf,
}


def decode_file(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, thumbnail_size: int = 1024, keep_16bit: bool = False
) -> Decoded:
    """Decode ``path`` (any supported format); raises :class:`DecodeError` for one bad file.

    ``keep_16bit``: grey images with more than 8 bits stay uint16 (else scaled to uint8);
    ``thumbnail_size``: longest side of a whole-slide image's thumbnail.
    """
    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"file '{path}' does not exist")
    fmt = sniff(path)
    # decoder warnings (pydicom's "invalid VR value ...") are counted, not printed per file and not
    # stored verbatim: their text can quote header values, i.e. identifiers
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", category=_bomb_warning())
        dec = DECODERS[fmt](path, max_pixels=max_pixels, thumbnail_size=thumbnail_size, keep_16bit=keep_16bit)
    if caught:
        dec.meta["decode_warnings"] = len(caught)
    return dec


def _bomb_warning() -> type[Warning]:
    from PIL import Image

    return Image.DecompressionBombWarning

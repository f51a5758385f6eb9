"""DICOM: uncompressed and JPEG / JPEG-LS / JPEG 2000 / RLE (pylibjpeg plugins), to display pixels.

Order of operations (PS3.3 C.11): modality LUT / rescale, then the VOI LUT or window (first
window of the file), then MONOCHROME1 inversion, so bright is always dense. RGB / YBR come out
as RGB; PALETTE COLOR through its LUT. Multi-frame: the middle frame (frame count in ``meta``).
Whole-slide DICOM (VL WSI SOP class) is handed to :mod:`curation.images.wsi`.

Header identifiers (patient name, id, birth date, accession ...) are never copied: they become a
deny-list for the burned-in-text scan and ``phi_flags`` with ``where="header"``; the patient id
is kept only as a salted sha256 prefix (:func:`hash_id`) so splits can still group by patient.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from curation.images.decoded import Decoded, check_pixels
from curation.images.errors import DecodeError

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"

#: Header attributes that identify a person: (keyword, phi kind).
IDENTIFYING = (
    ("PatientName", "name"), ("PatientID", "id"), ("PatientBirthDate", "date"), ("OtherPatientIDs", "id"),
    ("OtherPatientNames", "name"), ("PatientAddress", "address"), ("PatientTelephoneNumbers", "phone"),
    ("AccessionNumber", "id"), ("ReferringPhysicianName", "name"), ("PerformingPhysicianName", "name"),
    ("OperatorsName", "name"), ("InstitutionName", "other"), ("StudyDate", "date"), ("PatientAge", "age"),
)

#: Non-identifying attributes copied into ``meta``.
SAFE_META = (
    "Modality", "BodyPartExamined", "ViewPosition", "PhotometricInterpretation", "BitsStored",
    "Rows", "Columns", "NumberOfFrames", "PixelSpacing", "ImagerPixelSpacing", "SliceThickness",
    "Manufacturer", "SOPClassUID",
)


def hash_id(value: str, salt: str = "medharvest") -> str:
    """A stable, non-reversible stand-in for an identifier (sha256 prefix, 16 hex digits)."""
    return hashlib.sha256(f"{salt}:{value}".encode("utf-8")).hexdigest()[:16]


def header_identifiers(ds) -> tuple[list[str], list[dict]]:
    """(deny-list strings, header phi flags) from a dataset's identifying attributes."""
    deny: list[str] = []
    flags: list[dict] = []
    for kw, kind in IDENTIFYING:
        value = ds.get(kw)
        if value in (None, ""):
            continue
        values = list(value) if isinstance(value, (list, tuple)) or getattr(value, "VM", 1) > 1 and not isinstance(value, str) else [value]
        found = False
        for v in values:
            text = str(v).strip()
            if not text:
                continue
            found = True
            if kw == "InstitutionName":
                deny.append(text)
                continue
            parts = [p for p in text.replace("^", " ").split() if len(p) >= 2]
            deny.extend(parts)
            if kind == "date" and len(text) == 8 and text.isdigit():
                deny.append(text)
        if found:
            flags.append({"where": "header", "kind": kind, "left": None, "top": None, "width": None,
                          "height": None, "confidence": 1.0, "redacted": True})
    return sorted(set(deny)), flags


def _safe_meta(ds) -> dict:
    meta: dict = {}
    for kw in SAFE_META:
        v = ds.get(kw)
        if v is None or v == "":
            continue
        if hasattr(v, "__iter__") and not isinstance(v, str):
            v = [float(x) for x in v]
        elif isinstance(v, (int, float, str)):
            v = v if isinstance(v, (int, float)) else str(v)
        else:
            v = str(v)
        meta[kw] = v
    meta["transfer_syntax"] = str(getattr(ds.file_meta, "TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    return meta


def _voi_range(ds) -> tuple[float, float] | None:
    """Output range of the VOI transform pydicom applies (None: no VOI in the file)."""
    if ds.get("VOILUTSequence"):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        bits = int(ds.get("BitsStored", 16))
        if ds.get("ModalityLUTSequence"):
            lo, hi = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
        elif int(ds.get("PixelRepresentation", 0)) == 0:
            lo, hi = 0.0, float(2**bits - 1)
        else:
            lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
        slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        if slope is not None and intercept is not None:
            lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
        return lo, hi
    return None


def _mono_to_display(arr: np.ndarray, ds, *, keep_16bit: bool) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    a = apply_modality_lut(arr, ds)
    rng = _voi_range(ds)
    if rng is not None:
        try:
            a = apply_voi_lut(a, ds, prefer_lut=True)
        except (ValueError, IndexError, TypeError) as err:
            raise DecodeError(f"bad VOI LUT / window in header ({err})") from err
        lo, hi = rng
    else:
        a = a.astype(np.float64)
        lo, hi = float(np.min(a)), float(np.max(a))
    a = np.clip((np.asarray(a, dtype=np.float64) - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        a = 1.0 - a
    if keep_16bit and int(ds.get("BitsStored", 8)) > 8:
        return np.round(a * 65535).astype(np.uint16)
    return np.round(a * 255).astype(np.uint8)


def decode_dicom(path: Path, *, max_pixels: int, keep_16bit: bool = False, thumbnail_size: int = 1024, **_) -> Decoded:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, force=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as err:
        raise DecodeError(f"{path.name}: not a readable DICOM file ({type(err).__name__}: {err})") from err
    _ensure_transfer_syntax(ds)
    if str(ds.get("SOPClassUID", "")) == WSI_SOP_CLASS:
        dec = _decode_dicom_wsi(path, ds, max_pixels=max_pixels, thumbnail_size=thumbnail_size)
        dec.deny, dec.header_phi = header_identifiers(ds)
        pid = ds.get("PatientID")
        dec.patient_id = hash_id(str(pid)) if pid else None
        return dec
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DecodeError(f"{path.name}: {_corrupt_element(ds, path) or 'DICOM file has no pixel data'}")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise DecodeError(f"{path.name}: DICOM header has no image size (Rows/Columns)")
    check_pixels(rows * cols, max_pixels, path.name)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        from pydicom.pixels import pixel_array

        arr = pixel_array(ds, index=frames // 2 if frames > 1 else None)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, KeyError, TypeError, EOFError, OSError) as err:
        raise DecodeError(f"{path.name}: cannot decode DICOM pixel data ({type(err).__name__}: {err})") from err
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
        if arr.dtype != np.uint8:
            arr = np.round(arr / 257.0).astype(np.uint8)
    elif arr.ndim == 3 and arr.shape[-1] == 3:
        if arr.dtype != np.uint8:
            a = arr.astype(np.float64)
            arr = np.round(a / (float(a.max()) or 1.0) * 255).astype(np.uint8)
    else:
        arr = _mono_to_display(arr, ds, keep_16bit=keep_16bit)
    deny, flags = header_identifiers(ds)
    pid = ds.get("PatientID")
    meta = _safe_meta(ds)
    if frames > 1:
        meta["frame_used"] = frames // 2
    return Decoded(
        pixels=np.ascontiguousarray(arr),
        format="dicom",
        modality=str(ds.get("Modality")) if ds.get("Modality") else None,
        body_part=str(ds.get("BodyPartExamined")).lower() if ds.get("BodyPartExamined") else None,
        view=str(ds.get("ViewPosition")).upper() if ds.get("ViewPosition") else None,
        patient_id=hash_id(str(pid)) if pid else None,
        meta=meta,
        deny=deny,
        header_phi=flags,
    )


def _corrupt_element(ds, path: Path) -> str | None:
    """Why the parser stopped early, when an element's declared length runs past the end of the file
    (a corrupt tag length swallows everything after it, pixel data included)."""
    size = path.stat().st_size
    for tag, raw in getattr(ds, "_dict", {}).items():
        length, value = getattr(raw, "length", None), getattr(raw, "value", None)
        if length in (None, 0xFFFFFFFF) or not isinstance(value, (bytes, bytearray)) or len(value) >= length:
            continue
        at = getattr(raw, "value_tell", None)
        where = f" at byte {at}" if at is not None else ""
        return (f"corrupt DICOM: element ({tag >> 16:04X},{tag & 0xFFFF:04X}){where} declares a length of {length} "
                f"bytes but the file ({size} bytes) holds only {len(value)} more: a corrupt tag length or a "
                "truncated file (everything after it, pixel data included, is lost)")
    return None


def _ensure_transfer_syntax(ds) -> None:
    """Headerless (no file meta) files: infer the transfer syntax from how they were read."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if getattr(ds, "is_implicit_VR", True) else ExplicitVRLittleEndian


def _decode_dicom_wsi(path: Path, ds, *, max_pixels: int, thumbnail_size: int) -> Decoded:
    """DICOM whole-slide: OpenSlide when it can, else the TILED_FULL frames assembled by pydicom."""
    from curation.images.wsi import decode_wsi

    try:
        dec = decode_wsi(path, max_pixels=max_pixels, thumbnail_size=thumbnail_size)
        dec.format = "dicom-wsi"
        return dec
    except DecodeError:
        pass  # e.g. a single-file DICOM-WSI OpenSlide cannot read: assemble the tiles ourselves
    from pydicom.pixels import iter_pixels

    from curation.images.wsi import assemble_tiles

    total_w = int(ds.get("TotalPixelMatrixColumns", 0) or 0)
    total_h = int(ds.get("TotalPixelMatrixRows", 0) or 0)
    tw, th = int(ds.Columns), int(ds.Rows)
    if not total_w or not total_h:
        raise DecodeError(f"{path.name}: whole-slide DICOM without TotalPixelMatrixColumns/Rows")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    positions = frame_positions(ds, n_frames)
    if positions is None and str(ds.get("DimensionOrganizationType", "TILED_FULL")).upper() != "TILED_FULL":
        raise DecodeError(f"{path.name}: whole-slide DICOM that is not TILED_FULL and has no per-frame positions")
    scale = min(1.0, thumbnail_size / max(total_w, total_h))
    check_pixels(max(1, round(total_w * scale)) * max(1, round(total_h * scale)), max_pixels, path.name)
    try:
        with warnings.catch_warnings():
            # converters often say RGB for JFIF (YBR_FULL_422) frames; the decoder converts them to RGB
            warnings.filterwarnings("ignore", message=".*Photometric Interpretation.*")
            pixels, layout = assemble_tiles(
                iter_pixels(ds), total_w=total_w, total_h=total_h, tile_w=tw, tile_h=th, n_frames=n_frames,
                thumbnail_size=thumbnail_size, positions=positions,
            )
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, KeyError, TypeError, EOFError, OSError) as err:
        raise DecodeError(f"{path.name}: cannot decode whole-slide DICOM frames ({type(err).__name__}: {err})") from err
    meta = _safe_meta(ds)
    meta.update({"slide_dimensions": layout.pop("slide_dimensions"), "thumbnail_scale": layout.pop("thumbnail_scale"),
                 "tiles": n_frames, "tile_layout": layout})
    return Decoded(pixels=pixels, format="dicom-wsi", modality="SM", meta=meta)


def frame_positions(ds, n_frames: int) -> list[tuple[int, int]] | None:
    """0-based (x, y) of each frame from PerFrameFunctionalGroupsSequence / PlanePositionSlideSequence.

    None when the file does not give every frame a position (TILED_FULL files usually do not).
    """
    groups = ds.get("PerFrameFunctionalGroupsSequence")
    if not groups or len(groups) < n_frames:
        return None
    out: list[tuple[int, int]] = []
    for item in list(groups)[:n_frames]:
        seq = item.get("PlanePositionSlideSequence")
        if not seq:
            return None
        col = seq[0].get("ColumnPositionInTotalImagePixelMatrix")
        row = seq[0].get("RowPositionInTotalImagePixelMatrix")
        if col is None or row is None:
            return None
        out.append((int(col) - 1, int(row) - 1))
    return out

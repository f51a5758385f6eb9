"""NIfTI volumes (nibabel) -> a representative 2-D slice, with the volume's metadata.

The record image is the middle axial slice of the (first) volume, in RAS orientation
(``nibabel.as_closest_canonical``), rotated so anterior is up; intensities are scaled between
the 0.5 and 99.5 percentiles of the whole volume (robust to outliers). ``meta`` keeps the shape,
voxel size, number of time points and which slice was used. :func:`representative_slices`
gives several evenly spaced slices for callers that want more than one.

Memory is bounded before any voxel is read: the header's dimensions and data type say how much the
(first) volume takes once decoded, and a file declaring more than ``max_volume_bytes`` of working
memory is refused (a 255 KB ``.nii.gz`` of zeros can declare 4,000 slices; the per-slice pixel
limit alone let it take 5 GB). Only the first volume of a 4-D series is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curation.images.decoded import Decoded, check_pixels
from curation.images.errors import DecodeError


#: Working memory one decoded volume may take (its voxels in the file's type + float32 copies).
MAX_VOLUME_BYTES = 2 << 30
_WORK_BYTES_PER_VOXEL = 12   # float32 volume + the finite-values copy + the scaled copy


def check_volume(shape: tuple[int, ...], dtype, max_volume_bytes: int, what: str) -> None:
    """Refuse a volume whose declared size (header dims x data type) needs more than the limit."""
    voxels = int(np.prod([max(0, s) for s in shape[:3]], dtype=np.int64))
    itemsize = int(np.dtype(dtype).itemsize)
    need = voxels * (itemsize + _WORK_BYTES_PER_VOXEL)
    if max_volume_bytes and need > max_volume_bytes:
        raise DecodeError(
            f"{what}: NIfTI header declares a {'x'.join(map(str, shape))} {np.dtype(dtype).name} volume "
            f"({voxels * itemsize} bytes of voxels, about {need} bytes to decode), over the limit of "
            f"{max_volume_bytes} bytes (raise max_volume_bytes if the file is trusted)",
            flag="decompression_bomb")


def _load(path: Path, max_pixels: int, max_volume_bytes: int = MAX_VOLUME_BYTES):
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        if len(shape) < 2:
            raise DecodeError(f"{path.name}: NIfTI image has {len(shape)} dimension(s); need at least 2")
        check_pixels(shape[0] * shape[1], max_pixels, path.name)
        check_volume(shape, img.get_data_dtype(), max_volume_bytes, path.name)   # before any voxel is read
        if len(shape) > 3:
            img = img.slicer[(slice(None),) * 3 + (0,) * (len(shape) - 3)]   # the first volume only (lazy)
        img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj)
    except (ImageFileError, OSError, EOFError, ValueError, MemoryError) as err:
        raise DecodeError(f"{path.name}: cannot read NIfTI ({type(err).__name__}: {err})") from err
    if data.ndim > 3:
        data = data.reshape(data.shape[:3] + (-1,))[..., 0]
    return img, shape, np.asarray(data, dtype=np.float32)


def _scale(vol: np.ndarray, keep_16bit: bool) -> tuple[np.ndarray, float, float]:
    finite = vol[np.isfinite(vol)]
    lo, hi = (float(np.percentile(finite, 0.5)), float(np.percentile(finite, 99.5))) if finite.size else (0.0, 1.0)
    a = np.clip((np.nan_to_num(vol, nan=lo) - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
    out = np.round(a * 65535).astype(np.uint16) if keep_16bit else np.round(a * 255).astype(np.uint8)
    return out, lo, hi


def _axial(vol: np.ndarray, k: int) -> np.ndarray:
    sl = vol[:, :, k] if vol.ndim == 3 else vol
    return np.ascontiguousarray(np.rot90(sl))  # (x, y) in RAS -> rows = y (anterior up), cols = x


def representative_slices(path: str | Path, n: int = 3, *, max_pixels: int = 0, keep_16bit: bool = False,
                          max_volume_bytes: int = MAX_VOLUME_BYTES) -> list[np.ndarray]:
    """``n`` evenly spaced axial slices (the middle one included when ``n`` is odd)."""
    _, _, vol = _load(Path(path), max_pixels, max_volume_bytes)
    scaled, _, _ = _scale(vol, keep_16bit)
    depth = scaled.shape[2] if scaled.ndim == 3 else 1
    idx = sorted({int(round(x)) for x in np.linspace(0, depth - 1, n + 2)[1:-1]}) if depth > 1 else [0]
    return [_axial(scaled, k) for k in idx]


def decode_nifti(path: Path, *, max_pixels: int, keep_16bit: bool = False, max_volume_bytes: int = MAX_VOLUME_BYTES,
                 **_) -> Decoded:
    img, shape, vol = _load(path, max_pixels, max_volume_bytes)
    scaled, lo, hi = _scale(vol, keep_16bit)
    k = scaled.shape[2] // 2 if scaled.ndim == 3 else 0
    zooms = [float(z) for z in img.header.get_zooms()]
    meta = {
        "volume_shape": list(shape),
        "voxel_size": zooms[:3],
        "time_points": int(shape[3]) if len(shape) > 3 else 1,
        "slice_axis": "axial",
        "slice_index": int(k),
        "intensity_window": [lo, hi],
    }
    return Decoded(pixels=_axial(scaled, k), format="nifti", meta=meta)

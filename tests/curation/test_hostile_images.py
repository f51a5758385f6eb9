"""Hostile image files: a NIfTI whose header declares far more than its size, a DICOM with a corrupt tag length."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from curation.images.decode import decode_file
from curation.images.errors import DecodeError


def nifti_bomb(path, shape=(256, 256, 4000), dtype=np.uint8) -> None:
    """A gzipped NIfTI-1 of zeros: ~255 KB on disk, 262 MB of voxels declared (4,000 slices)."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr.set_qform(np.eye(4), code=1)
    hdr["vox_offset"] = 352
    zeros = bytes(1 << 20)
    total = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(hdr.binaryblock + b"\0\0\0\0")
        for _ in range(total // len(zeros)):
            fh.write(zeros)
        fh.write(bytes(total % len(zeros)))


def test_nifti_declaring_4000_slices_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.nii.gz"
    nifti_bomb(path)
    assert path.stat().st_size < 400_000
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError) as info:
            decode_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.flag == "decompression_bomb"
    assert "256x256x4000" in str(info.value) and "declares" in str(info.value)
    assert peak < 50 << 20, peak


def test_small_nifti_and_4d_first_volume_still_decode(tmp_path):
    import nibabel as nib

    vol = np.arange(8 * 9 * 5 * 3, dtype=np.int16).reshape(8, 9, 5, 3)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "ok.nii.gz")
    dec = decode_file(tmp_path / "ok.nii.gz")
    assert dec.pixels.shape == (9, 8) and dec.meta["time_points"] == 3 and dec.meta["volume_shape"] == [8, 9, 5, 3]


def test_dicom_with_a_corrupt_tag_length_says_so(tmp_path):
    from pydicom.data import get_testdata_file

    src = open(get_testdata_file("CT_small.dcm"), "rb").read()
    i = src.find(b"\x10\x00\x10\x00PN")          # Patient's Name, explicit VR little endian, 2-byte length
    assert i > 0
    bad = bytearray(src)
    bad[i + 6:i + 8] = struct.pack("<H", 0xFFF0)  # declares 65,520 bytes: swallows the rest of the file
    (tmp_path / "bad.dcm").write_bytes(bytes(bad))
    with pytest.raises(DecodeError) as info:
        decode_file(tmp_path / "bad.dcm")
    msg = str(info.value)
    assert "corrupt DICOM" in msg and "(0010,0010)" in msg and "65520" in msg and "no pixel data" not in msg
    (tmp_path / "ok.dcm").write_bytes(src)
    assert decode_file(tmp_path / "ok.dcm").pixels.shape == (128, 128)

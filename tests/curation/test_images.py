"""Image decoding and normalisation on real files (pydicom-data, ../shared) and broken ones."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.images.decode import Decoded, decode_file, sniff
from curation.images.errors import DecodeError
from curation.images.store import encode_png, phash_hex, store_png, to_display
from curation.quality import QualityConfig, quality_flags


def dcm_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = get_testdata_file(name)
    if p is None:
        pytest.skip(f"pydicom test file {name} not available offline")
    return Path(p)


def test_monochrome1_is_inverted_and_compressed_equals_uncompressed():
    unc = decode_file(dcm_file("RG1_UNCR.dcm"))
    j2k = decode_file(dcm_file("RG1_J2KR.dcm"))   # JPEG 2000 lossless of the same image
    assert unc.format == "dicom" and unc.modality == "CR"
    assert unc.pixels.dtype == np.uint8 and unc.pixels.shape == (1955, 1841)
    assert np.array_equal(unc.pixels, j2k.pixels)
    # MONOCHROME1: raw low values are bright. After inversion the body (centre) is brighter than the corner.
    import pydicom

    ds = pydicom.dcmread(dcm_file("RG1_UNCR.dcm"))
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    raw = ds.pixel_array.astype(float)
    corr = np.corrcoef(raw[::16, ::16].ravel(), unc.pixels[::16, ::16].astype(float).ravel())[0, 1]
    assert corr < -0.9


@pytest.mark.parametrize("compressed, plain", [
    ("emri_small_jpeg_ls_lossless.dcm", "emri_small.dcm"),   # JPEG-LS
    ("emri_small_RLE.dcm", "emri_small.dcm"),                 # RLE
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"),   # JPEG 2000
    ("MR_small_RLE.dcm", "MR_small.dcm"),
])
def test_compressed_transfer_syntaxes_decode_like_uncompressed(compressed, plain):
    a, b = decode_file(dcm_file(compressed)), decode_file(dcm_file(plain))
    assert a.pixels.shape == b.pixels.shape
    assert np.array_equal(a.pixels, b.pixels)


def test_16bit_kept_or_scaled(tmp_path):
    p = dcm_file("CT_small.dcm")
    eight = decode_file(p)
    sixteen = decode_file(p, keep_16bit=True)
    assert eight.pixels.dtype == np.uint8 and sixteen.pixels.dtype == np.uint16
    assert sixteen.pixels.max() > 255
    assert np.abs(to_display(sixteen.pixels).astype(int) - eight.pixels.astype(int)).max() <= 1
    rel, _ = store_png(sixteen.pixels, tmp_path)
    with Image.open(tmp_path / rel) as im:
        assert im.mode.startswith("I") and np.array_equal(np.asarray(im).astype(np.uint16), sixteen.pixels)


def test_voi_lut_and_window_are_applied():
    d = decode_file(dcm_file("vlut_04.dcm"))           # VOI LUT sequence
    assert d.pixels.dtype == np.uint8 and d.pixels.max() > 200 and len(np.unique(d.pixels)) > 50
    ct = decode_file(dcm_file("CT_small.dcm"))          # window centre/width
    assert ct.pixels.min() == 0 and ct.pixels.max() == 255


def test_rgb_and_palette_dicom():
    rgb = decode_file(dcm_file("SC_rgb.dcm"))
    assert rgb.pixels.shape == (100, 100, 3)
    jpeg = decode_file(dcm_file("SC_rgb_jpeg_dcmtk.dcm"))
    assert jpeg.pixels.shape == (100, 100, 3)
    assert np.abs(jpeg.pixels.astype(int) - rgb.pixels.astype(int)).mean() < 10
    pal = decode_file(dcm_file("OT-PAL-8-face.dcm"))   # PALETTE COLOR, no file meta
    assert pal.pixels.shape == (480, 640, 3)


def test_header_identifiers_become_deny_list_and_hash_never_copied(shared):
    d = decode_file(shared("data", "pseudo_phi_dicom_burned_in", "2_ORIGINAL.dcm"))
    assert {"KAUFMAN", "SCOTT"} <= set(d.deny)
    assert d.patient_id and d.patient_id != "6774825273" and len(d.patient_id) == 16
    flat = repr(d.meta)
    assert "KAUFMAN" not in flat and "6774825273" not in flat
    kinds = {f["kind"] for f in d.header_phi}
    assert {"name", "id", "date"} <= kinds and all(f["where"] == "header" for f in d.header_phi)


def test_dicom_without_pixels_and_corrupt_dicom(shared, tmp_path):
    with pytest.raises(DecodeError, match="no pixel data"):
        decode_file(shared("data", "pseudo_phi_dicom_burned_in", "0_ORIGINAL_no_pixels.dcm"))
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    with pytest.raises(DecodeError) as err:
        decode_file(bad)
    assert err.value.flag == "unreadable"


def test_rle_radiograph_from_shared(shared):
    d = decode_file(shared("data", "pseudo_phi_dicom_burned_in", "0_ORIGINAL_compressed.dcm"))
    assert d.pixels.shape == (1760, 2140) and d.modality == "CR"
    # MONOCHROME1 with burned-in text: after inversion the text (top-left) is white
    assert d.pixels[25:60, 25:260].max() == 255


def test_nifti_middle_slice_and_metadata(shared):
    from curation.images.volume import representative_slices

    d = decode_file(shared("data", "nifti_small", "example4d.nii.gz"))
    assert d.format == "nifti" and d.pixels.ndim == 2
    assert d.meta["volume_shape"] == [128, 96, 24, 2] and d.meta["time_points"] == 2
    assert d.meta["slice_index"] == 12 and len(d.meta["voxel_size"]) == 3
    slices = representative_slices(shared("data", "nifti_small", "anatomical.nii"), n=3)
    assert len(slices) == 3 and all(s.shape == slices[0].shape for s in slices)
    assert not np.array_equal(slices[0], slices[1])


def test_svs_thumbnail_and_tiles(shared):
    from curation.images.wsi import wsi_tiles

    p = shared("data", "histology_wsi_small", "small_HE.svs")
    d = decode_file(p, thumbnail_size=512)
    assert d.format == "slide" and d.modality == "SM" and max(d.pixels.shape[:2]) == 512 and d.pixels.shape[2] == 3
    assert d.meta["objective_power"] == 20.0 and d.meta["slide_dimensions"] == [2220, 2967]
    tiles = list(wsi_tiles(p, magnification=10.0, tile_size=256, max_tiles=3))
    assert 1 <= len(tiles) <= 3 and tiles[0][1].shape == (256, 256, 3)


def test_dicom_wsi_assembled(shared):
    d = decode_file(shared("data", "histology_wsi_small", "small_dicom.dcm"), thumbnail_size=512)
    assert d.format == "dicom-wsi" and d.modality == "SM" and max(d.pixels.shape[:2]) == 512
    assert d.meta["slide_dimensions"] == [3236, 2638]
    assert d.patient_id and "TCGA" not in repr(d.meta)


def test_raster_truncated_and_bomb(tmp_path):
    img = (np.arange(64 * 64) % 251).reshape(64, 64).astype(np.uint8)
    p = tmp_path / "x.png"
    Image.fromarray(img).save(p)
    d = decode_file(p)
    assert np.array_equal(d.pixels, img) and sniff(p) == "raster"
    t = tmp_path / "t.png"
    t.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DecodeError, match="truncated|cannot decode"):
        decode_file(t)
    with pytest.raises(DecodeError, match="decompression-bomb|decompression bomb") as err:
        decode_file(p, max_pixels=1000)
    assert err.value.flag == "decompression_bomb"
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (40, 30), (10, 20, 30, 255)).save(rgba)
    assert decode_file(rgba).pixels.shape == (30, 40, 3)
    with pytest.raises(DecodeError, match="does not exist"):
        decode_file(tmp_path / "nope.png")


def test_content_addressed_store_shares_identical_images(tmp_path):
    img = (np.random.default_rng(0).random((50, 60)) * 255).astype(np.uint8)
    rel1, sha1 = store_png(img, tmp_path)
    rel2, sha2 = store_png(img.copy(), tmp_path)
    assert rel1 == rel2 == f"images/{sha1[:2]}/{sha1}.png"
    data = (tmp_path / rel1).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha1 and data == encode_png(img)
    assert len(list((tmp_path / "images").rglob("*.png"))) == 1
    assert len(phash_hex(img)) == 16


def test_quality_flags():
    cfg = QualityConfig(min_side=32, max_aspect=4.0)
    assert quality_flags(np.full((100, 100), 7, np.uint8), cfg) == ["blank"]
    rng = np.random.default_rng(1)
    assert quality_flags((rng.random((20, 100)) * 255).astype(np.uint8), cfg) == ["too_small", "extreme_aspect"]
    assert quality_flags((rng.random((100, 100)) * 255).astype(np.uint8), cfg) == []
    assert isinstance(Decoded(np.zeros((2, 3), np.uint8), "png").width, int)

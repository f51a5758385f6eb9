"""Tile ORDER of whole-slide DICOM assembled without OpenSlide (real converter output + synthetic slides)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.images.decode import decode_file
from curation.images.wsi import TileLayout, assemble_tiles, candidate_layouts

TILE = 64


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A tissue-like RGB image: smooth random blobs at a few scales plus mild noise (uint8)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3))
    for cells, amp in ((3, 90.0), (9, 50.0), (27, 20.0)):
        coarse = rng.random((cells + 1, cells + 1, 3))
        big = Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        out += (np.asarray(big, dtype=np.float64) / 255.0 - 0.5) * amp
    out += 128 + rng.normal(0, 2.0, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def cut(img: np.ndarray, across: int, down: int, *, column_major: bool) -> list[np.ndarray]:
    """Tiles of ``img`` (zero padded at the right / bottom like converters do) in frame order."""
    h, w = img.shape[:2]
    pad = np.zeros((down * TILE, across * TILE, 3), np.uint8)
    pad[:h, :w] = img
    tiles = {(r, c): pad[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE]
             for r in range(down) for c in range(across)}
    order = [(r, c) for c in range(across) for r in range(down)] if column_major else \
        [(r, c) for r in range(down) for c in range(across)]
    return [tiles[k].copy() for k in order]


# true image 350 x 230 (w x h): 6 x 4 tiles of 64, partial last column / row
W, H = 350, 230


@pytest.mark.parametrize("column_major, swapped, expect", [
    (False, False, "header"),
    (True, False, "column-major"),
    (False, True, "swapped"),
    (True, True, "swapped-column-major"),
])
def test_layout_rule_recovers_the_true_image(column_major, swapped, expect):
    img = smooth_image(H, W, seed=3)
    frames = cut(img, 6, 4, column_major=column_major)
    # the header states the matrix size; "swapped" writers put width and height the wrong way round
    total_w, total_h = (H, W) if swapped else (W, H)
    out, info = assemble_tiles(iter(frames), total_w=total_w, total_h=total_h, tile_w=TILE, tile_h=TILE,
                               n_frames=len(frames), thumbnail_size=1000)
    assert info["chosen"] == expect, info
    assert out.shape == img.shape and np.array_equal(out, img)
    assert info["slide_dimensions"] == [W, H] and info["thumbnail_scale"] == 1.0
    s = info["seam_scores"]
    assert s[expect] == min(s.values()) and s[expect] < 2 * info["within_tile"] + 1


def test_square_grid_without_padding_cues_prefers_column_major_to_a_size_swap():
    """4 x 4 tiles whose last row / column carry real pixels (no black padding): column-major and
    swapped-column-major seams tie; the fix that keeps the header's matrix size wins."""
    big = smooth_image(4 * TILE, 4 * TILE, seed=9)
    frames = [big[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE].copy() for c in range(4) for r in range(4)]
    w, h = 4 * TILE - 20, 4 * TILE - 7
    out, info = assemble_tiles(iter(frames), total_w=w, total_h=h, tile_w=TILE, tile_h=TILE, n_frames=16,
                               thumbnail_size=1000)
    assert info["chosen"] == "column-major" and info["slide_dimensions"] == [w, h]
    assert np.array_equal(out, big[:h, :w])


def test_blank_slide_and_single_row_keep_the_header_layout():
    frames = [np.full((TILE, TILE, 3), 240, np.uint8)] * 6
    out, info = assemble_tiles(iter(frames), total_w=3 * TILE, total_h=2 * TILE, tile_w=TILE, tile_h=TILE,
                               n_frames=6, thumbnail_size=500)
    assert info["chosen"] == "header" and out.shape == (2 * TILE, 3 * TILE, 3)
    # one row of tiles: column-major is the same placement (dropped), swapped needs 3 x 1 = 3 frames
    names = [lay.name for lay in candidate_layouts(3 * TILE, TILE, TILE, TILE, 3)]
    assert names == ["header", "swapped"]
    assert TileLayout("x", 3, 2, 1, 1, column_major=True).cell(3) == (1, 1)


def _write_wsi(path: Path, frames: list[np.ndarray], total_w: int, total_h: int,
               positions: list[tuple[int, int]] | None = None) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop = "1.2.840.10008.5.1.4.1.1.77.1.6"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality, ds.PatientID = sop, meta.MediaStorageSOPInstanceUID, "SM", "P1"
    ds.Rows = ds.Columns = TILE
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = len(frames)
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = total_w, total_h
    if positions is None:
        ds.DimensionOrganizationType = "TILED_FULL"
    else:
        ds.DimensionOrganizationType = "TILED_SPARSE"
        items = []
        for x, y in positions:
            pos = Dataset()
            pos.ColumnPositionInTotalImagePixelMatrix, pos.RowPositionInTotalImagePixelMatrix = x + 1, y + 1
            item = Dataset()
            item.PlanePositionSlideSequence = Sequence([pos])
            items.append(item)
        ds.PerFrameFunctionalGroupsSequence = Sequence(items)
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_decode_file_column_major_dicom_and_per_frame_positions(tmp_path):
    img = smooth_image(H, W, seed=5)
    frames = cut(img, 6, 4, column_major=True)
    d = decode_file(_write_wsi(tmp_path / "cm.dcm", frames, W, H), thumbnail_size=1000)
    assert d.format == "dicom-wsi" and d.meta["tile_layout"]["chosen"] == "column-major"
    assert np.array_equal(d.pixels, img)
    # per-frame positions win over any grid guess: frames in a shuffled order, each with its position
    grid = [(c * TILE, r * TILE) for c in range(6) for r in range(4)]
    perm = np.random.default_rng(0).permutation(len(frames))
    p = _write_wsi(tmp_path / "sparse.dcm", [frames[i] for i in perm], W, H, [grid[i] for i in perm])
    d2 = decode_file(p, thumbnail_size=1000)
    assert d2.meta["tile_layout"]["chosen"] == "positions" and np.array_equal(d2.pixels, img)


# --- the real converter output in ../shared (openslide cannot open it) -------------------------------

def _frames(path: Path) -> list[np.ndarray]:
    import pydicom
    from pydicom.pixels import iter_pixels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(iter_pixels(pydicom.dcmread(path)))


@pytest.mark.shared
def test_real_dicom_wsi_tile_order(shared):
    p = shared("data", "histology_wsi_small", "small_dicom.dcm")
    d = decode_file(p, thumbnail_size=1024)
    lay = d.meta["tile_layout"]
    assert d.meta["slide_dimensions"] == [3236, 2638] and d.pixels.shape == (835, 1024, 3)
    assert lay["chosen"] == "column-major" and (lay["across"], lay["down"]) == (7, 6)
    seams = lay["seam_scores"]
    # the chosen layout's seams are as smooth as the inside of a tile; the header order's are not
    assert seams["column-major"] < 1.5 * lay["within_tile"]
    assert seams["header"] > 5 * seams["column-major"]

    # independent ORDER check: each frame, shrunk, matches the thumbnail where it was placed
    frames = _frames(p)
    scale = d.meta["thumbnail_scale"]
    thumb = d.pixels.astype(np.float64)

    def err_at(frame: np.ndarray, r: int, c: int) -> float:
        x0, y0 = round(c * 500 * scale), round(r * 500 * scale)
        x1, y1 = round(min((c + 1) * 500, 3236) * scale), round(min((r + 1) * 500, 2638) * scale)
        vw, vh = min(500, 3236 - c * 500), min(500, 2638 - r * 500)
        small = np.asarray(Image.fromarray(frame[:vh, :vw]).resize((x1 - x0, y1 - y0)), dtype=np.float64)
        return float(np.abs(small - thumb[y0:y1, x0:x1]).mean())

    for i in (1, 7, 20, 30, 40):   # (41 is the last cell in both orders)
        right, wrong = err_at(frames[i], i % 6, i // 6), err_at(frames[i], *divmod(i, 7))
        assert right < 8 and wrong > 2 * right, (i, right, wrong)
    # the black padding of the last column / row (frames 36-41, 5, 11 ...) is cut, never shown
    assert (thumb.sum(axis=2) < 60).mean() < 0.01   # padding misplaced inside would be ~10% (ink dots ~0.2%)


@pytest.mark.shared
def test_real_dicom_wsi_colour(shared):
    """Header says RGB but frames are JFIF (YBR): they must come out as RGB (H&E: tissue red > green)."""
    import pydicom
    from pydicom.encaps import generate_frames

    p = shared("data", "histology_wsi_small", "small_dicom.dcm")
    ds = pydicom.dcmread(p)
    raw = next(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    ref = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.float64)   # PIL honours JFIF YCbCr
    assert np.abs(_frames(p)[0].astype(np.float64) - ref).mean() < 2.0
    thumb = decode_file(p, thumbnail_size=256).pixels.astype(np.float64)
    tissue = thumb[thumb.mean(axis=2) < 200]
    assert len(tissue) > 1000 and tissue[:, 0].mean() > tissue[:, 1].mean() + 20

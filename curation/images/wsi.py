"""Whole-slide images (Aperio SVS, DICOM-WSI, NDPI, MRXS ...) via OpenSlide.

The record image is a thumbnail (longest side ``thumbnail_size``); the slide is never decoded at
full resolution (so the decompression-bomb limit applies to the thumbnail, not the slide).
:func:`wsi_tiles` cuts tiles at a chosen magnification for callers that want them (tissue
tiles only: mostly-white background tiles are skipped).

:func:`assemble_tiles` builds the thumbnail from equal-size frames when OpenSlide cannot open a
file (single-file DICOM-WSI from converters): frame positions when the file has them, else the
grid layout whose tile seams are smoothest (header order unless another is clearly better).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from curation.images.decoded import Decoded, check_pixels
from curation.images.errors import DecodeError


def _open(path: Path):
    import openslide

    try:
        return openslide.OpenSlide(str(path))
    except (openslide.OpenSlideError, OSError) as err:
        raise DecodeError(f"{path.name}: cannot open whole-slide image ({type(err).__name__}: {err})") from err


def _slide_meta(slide) -> dict:
    import openslide

    props = slide.properties

    def num(key):
        try:
            return float(props[key])
        except (KeyError, ValueError):
            return None

    return {
        "slide_vendor": props.get(openslide.PROPERTY_NAME_VENDOR),
        "slide_dimensions": list(slide.dimensions),
        "slide_levels": int(slide.level_count),
        "level_downsamples": [float(d) for d in slide.level_downsamples],
        "mpp_x": num(openslide.PROPERTY_NAME_MPP_X),
        "mpp_y": num(openslide.PROPERTY_NAME_MPP_Y),
        "objective_power": num(openslide.PROPERTY_NAME_OBJECTIVE_POWER),
    }


def decode_wsi(path: Path, *, max_pixels: int, thumbnail_size: int = 1024, **_) -> Decoded:
    import openslide

    slide = _open(path)
    try:
        w, h = slide.dimensions
        scale = min(1.0, thumbnail_size / max(w, h))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        check_pixels(size[0] * size[1], max_pixels, path.name)
        try:
            thumb = slide.get_thumbnail(size).convert("RGB")
        except (openslide.OpenSlideError, OSError) as err:
            raise DecodeError(f"{path.name}: cannot read slide pixels ({err})") from err
        meta = _slide_meta(slide)
        meta["thumbnail_scale"] = scale
    finally:
        slide.close()
    return Decoded(pixels=np.asarray(thumb), format="slide", modality="SM", meta=meta)


def wsi_tiles(
    path: str | Path, *, magnification: float | None = None, tile_size: int = 512, max_tiles: int = 16,
    min_tissue: float = 0.25,
) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """Yield ``((x, y), rgb_tile)`` at ``magnification`` (e.g. 5.0 for 5x; None: level 0).

    ``(x, y)`` are level-0 coordinates of the tile's top-left corner. Tiles with less than
    ``min_tissue`` non-background pixels are skipped; at most ``max_tiles`` are yielded.
    """
    path = Path(path)
    slide = _open(path)
    try:
        meta = _slide_meta(slide)
        base = meta["objective_power"]
        downsample = 1.0 if magnification is None or not base else max(1.0, base / magnification)
        level = slide.get_best_level_for_downsample(downsample)
        level_ds = slide.level_downsamples[level]
        extra = downsample / level_ds
        read = max(1, round(tile_size * extra))
        step0 = round(read * level_ds)
        w, h = slide.dimensions
        n = 0
        for y in range(0, h - step0 + 1, step0):
            for x in range(0, w - step0 + 1, step0):
                region = slide.read_region((x, y), level, (read, read)).convert("RGB")
                if read != tile_size:
                    region = region.resize((tile_size, tile_size))
                tile = np.asarray(region)
                tissue = float(np.mean(tile.min(axis=2) < 220))
                if tissue < min_tissue:
                    continue
                yield (x, y), tile
                n += 1
                if n >= max_tiles:
                    return
    finally:
        slide.close()


# --- tiled frames (DICOM-WSI without OpenSlide) ---------------------------------------------------

#: A non-header layout must beat the header layout's seam score by this factor to be chosen.
LAYOUT_MARGIN = 0.8
#: Edge strips for the seam score come from tiles box-reduced to about this many pixels a side.
SEAM_TILE_SIDE = 128


@dataclasses.dataclass(frozen=True)
class TileLayout:
    """Where frame ``i`` goes in a grid of ``across`` x ``down`` tiles covering ``width`` x ``height``."""

    name: str
    across: int
    down: int
    width: int
    height: int
    column_major: bool = False

    def cell(self, i: int) -> tuple[int, int]:
        """(row, column) of frame ``i``."""
        return (i % self.down, i // self.down) if self.column_major else divmod(i, self.across)

    @property
    def cells(self) -> int:
        return self.across * self.down


def candidate_layouts(total_w: int, total_h: int, tile_w: int, tile_h: int, n_frames: int) -> list[TileLayout]:
    """The header layout (row-major, as DICOM TILED_FULL says) first, then the ones converters get wrong.

    Alternatives: column-major frames; the total matrix's columns/rows swapped (row- and
    column-major). An alternative needs enough frames to fill its grid; duplicates are dropped.
    """
    def grid(w, h):
        return -(-w // tile_w), -(-h // tile_h)

    a, d = grid(total_w, total_h)
    sa, sd = grid(total_h, total_w)
    out = [TileLayout("header", a, d, total_w, total_h)]
    for lay in (TileLayout("column-major", a, d, total_w, total_h, True),
                TileLayout("swapped", sa, sd, total_h, total_w),
                TileLayout("swapped-column-major", sa, sd, total_h, total_w, True)):
        same = any((o.across, o.down, o.width, o.height) == (lay.across, lay.down, lay.width, lay.height)
                   and all(o.cell(i) == lay.cell(i) for i in range(lay.cells)) for o in out)
        if lay.cells <= n_frames and not same:
            out.append(lay)
    return out


def _edges(tile: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """The two outermost rows / columns on each side of ``tile`` box-reduced by ``k`` (uint8 copies)."""
    from PIL import Image

    s = tile if k == 1 else np.asarray(Image.fromarray(tile).reduce(k))
    return {"left": s[:, :2].copy(), "right": s[:, -1:-3:-1].copy(), "top": s[:2].copy(), "bottom": s[-1:-3:-1].copy()}


def seam_score(layout: TileLayout, edges: list[dict], tile_w: int, tile_h: int, k: int) -> tuple[float, float]:
    """(mean |difference| across tile seams, mean |difference| between the two outermost lines in tiles).

    Only the part of each seam inside the total matrix counts (padding of the last row / column
    is ignored). A right layout has seams about as smooth as the inside of a tile.
    """
    pos = {layout.cell(i): i for i in range(min(layout.cells, len(edges)))}
    seam: list[float] = []
    inner: list[float] = []
    for (r, c), i in pos.items():
        vh = -(-min(tile_h, layout.height - r * tile_h) // k)
        vw = -(-min(tile_w, layout.width - c * tile_w) // k)
        right, below = pos.get((r, c + 1)), pos.get((r + 1, c))
        if right is not None:
            a, b = edges[i]["right"][:vh].astype(np.float32), edges[right]["left"][:vh].astype(np.float32)
            seam.append(float(np.abs(a[:, 0] - b[:, 0]).mean()))
            inner.append(float(np.abs(a[:, 0] - a[:, 1]).mean()))
        if below is not None:
            a, b = edges[i]["bottom"][:, :vw].astype(np.float32), edges[below]["top"][:, :vw].astype(np.float32)
            seam.append(float(np.abs(a[0] - b[0]).mean()))
            inner.append(float(np.abs(a[0] - a[1]).mean()))
    if not seam:
        return 0.0, 0.0
    return float(np.mean(seam)), float(np.mean(inner))


def choose_layout(layouts: list[TileLayout], edges: list[dict], tile_w: int, tile_h: int, k: int,
                  margin: float = LAYOUT_MARGIN) -> tuple[TileLayout, dict]:
    """The layout with the smoothest seams; on a near tie the earliest in ``layouts`` (header first).

    Near tie: within ``1 / margin`` times (or 1 grey level of) the best score -- so the header
    layout is kept unless another is clearly better, and a column-major fix is preferred to a
    size swap when the padding of the last row / column cannot tell them apart.
    """
    scores = {lay.name: seam_score(lay, edges, tile_w, tile_h, k) for lay in layouts}
    best = min(scores[lay.name][0] for lay in layouts)
    chosen = next(lay for lay in layouts if scores[lay.name][0] <= max(best / margin, best + 1.0))
    info = {
        "chosen": chosen.name, "across": chosen.across, "down": chosen.down,
        "order": "column-major" if chosen.column_major else "row-major",
        "seam_scores": {name: round(s, 3) for name, (s, _) in scores.items()},
        "within_tile": round(scores[chosen.name][1], 3),
    }
    return chosen, info


def _rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        frame = np.stack([frame] * 3, axis=-1)
    elif frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    if frame.dtype != np.uint8:
        a = frame.astype(np.float64)
        frame = np.round(a / (float(a.max()) or 1.0) * 255)
    return np.ascontiguousarray(frame, dtype=np.uint8)


def assemble_tiles(
    frames: Iterable[np.ndarray], *, total_w: int, total_h: int, tile_w: int, tile_h: int, n_frames: int,
    thumbnail_size: int, positions: list[tuple[int, int]] | None = None,
) -> tuple[np.ndarray, dict]:
    """A thumbnail (longest side ``thumbnail_size``) of a slide stored as equal tiles, and layout metadata.

    With ``positions`` (0-based ``(x, y)`` of each frame, e.g. from DICOM per-frame functional
    groups) tiles go there. Otherwise the grid layout is chosen by :func:`choose_layout` (frame
    order is not trusted: some converters write column-major frames or swap the matrix size).
    Frames are read once; each is kept only box-reduced (about thumbnail scale) plus edge strips.
    """
    from PIL import Image

    layouts = candidate_layouts(total_w, total_h, tile_w, tile_h, n_frames)
    need = len(positions) if positions is not None else max(lay.cells for lay in layouts)
    scale_guess = min(1.0, thumbnail_size / max(total_w, total_h))
    f = max(1, int(1.0 / scale_guess))
    k = max(1, min(tile_w, tile_h) // SEAM_TILE_SIDE)
    small: list[np.ndarray] = []
    edges: list[dict] = []
    for i, frame in enumerate(frames):
        if i >= need:
            break
        tile = _rgb(frame)
        small.append(tile if f == 1 else np.asarray(Image.fromarray(tile).reduce(f)))
        if positions is None:
            edges.append(_edges(tile, k))
    if positions is not None:
        info: dict = {"chosen": "positions", "tiles_placed": len(small)}
        width, height = total_w, total_h
        places = [(int(x), int(y)) for x, y in positions[: len(small)]]
    else:
        layout, info = choose_layout(layouts, edges, tile_w, tile_h, k)
        width, height = layout.width, layout.height
        places = []
        for i in range(min(layout.cells, len(small))):
            r, c = layout.cell(i)
            places.append((c * tile_w, r * tile_h))
    scale = min(1.0, thumbnail_size / max(width, height))
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = Image.new("RGB", (out_w, out_h), (255, 255, 255))
    for tile, (x, y) in zip(small, places):
        vw, vh = min(tile_w, width - x), min(tile_h, height - y)
        x0, y0 = round(x * scale), round(y * scale)
        x1, y1 = round((x + vw) * scale), round((y + vh) * scale)
        if vw <= 0 or vh <= 0 or x1 <= x0 or y1 <= y0:
            continue
        crop = Image.fromarray(tile).crop((0, 0, max(1, -(-vw // f)), max(1, -(-vh // f))))
        canvas.paste(crop.resize((x1 - x0, y1 - y0)), (x0, y0))
    info["thumbnail_scale"] = scale
    info["slide_dimensions"] = [width, height]
    return np.asarray(canvas), info

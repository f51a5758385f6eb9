"""Whole-slide images (Aperio SVS, DICOM-WSI, NDPI, MRXS ...) via OpenSlide.

The record image is a thumbnail (longest side ``thumbnail_size``); the slide is never decoded at
full resolution (so the decompression-bomb limit applies to the thumbnail, not the slide).
:func:`wsi_tiles` cuts tiles at a chosen magnification for callers that want them (tissue
tiles only: mostly-white background tiles are skipped).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curation.images.decode import Decoded, check_pixels
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

"""Tesseract word boxes from an image, in several passes, merged into one list.

Burned-in text in radiographs is usually small, near-white on dark anatomy, often at the image
edge. Each pass prepares the grey image differently, upscales small images (text needs ~20 px
height), pads the border (Tesseract misses text that touches the edge), and runs
``image_to_data``; boxes are mapped back to the input image's pixels.

Passes (:data:`PASSES`): ``bright`` -- pixels above a high threshold as black-on-white (isolates
burned-in overlay text from anatomy); ``tophat`` -- thin strokes brighter than their
neighbourhood (white top-hat), so text over bright anatomy or in grey survives; ``inverted`` --
white-on-black made black-on-white; ``plain`` -- the image as is (dark text on light background,
e.g. documents). A binary pass with nothing left after thresholding skips Tesseract.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np

PAD = 24


@dataclasses.dataclass
class Word:
    """One OCR word in input-image pixels."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float         # 0..100
    passes: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()   # other readings of the same box by other passes

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.left + self.width, self.top + self.height


def to_grey8(pixels: np.ndarray) -> np.ndarray:
    a = pixels
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32).mean(axis=2)
    if a.dtype == np.uint16:
        a = a.astype(np.float32) / 257.0
    return np.clip(np.asarray(a), 0, 255).astype(np.uint8)


def _bright(g: np.ndarray) -> np.ndarray:
    hi = float(np.percentile(g, 99.9))
    thr = max(180.0, min(235.0, hi - 20.0))
    return np.where(g >= thr, 0, 255).astype(np.uint8)


def _tophat(g: np.ndarray) -> np.ndarray:
    """Thin bright strokes on any background (white top-hat), as black-on-white."""
    from scipy import ndimage

    size = max(7, round(min(g.shape) / 90)) | 1
    th = g.astype(np.int16) - ndimage.grey_opening(g, size=(size, size)).astype(np.int16)
    return np.where(th >= 60, 0, 255).astype(np.uint8)


def _inverted(g: np.ndarray) -> np.ndarray:
    return (255 - g).astype(np.uint8)


def _plain(g: np.ndarray) -> np.ndarray:
    return g


PASSES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bright": _bright, "tophat": _tophat, "inverted": _inverted, "plain": _plain,
}


#: Passes whose output is black (candidate strokes) on white.
BINARY_PASSES = frozenset({"bright", "tophat"})


def upscale_factor(shape: tuple[int, ...], target: int = 1200) -> int:
    """2x or 3x for small images (their text is a few pixels high), 1 for large ones."""
    side = min(shape[0], shape[1])
    if side >= target:
        return 1
    return min(3, max(2, int(np.ceil(target / max(side, 1) / 1.5))))


def _prepare(img: np.ndarray, scale: int, name: str):
    """Upscaled + padded PIL image of one pass, or None when a binary pass kept nothing."""
    from PIL import Image

    if name in BINARY_PASSES and int(np.count_nonzero(img == 0)) < 12:
        return None  # nothing survived the threshold: no text to read, skip the Tesseract call
    im = Image.fromarray(img)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.LANCZOS)
    fill = 255 if name != "plain" else int(np.median(img))
    padded = Image.new("L", (im.width + 2 * PAD, im.height + 2 * PAD), fill)
    padded.paste(im, (PAD, PAD))
    return padded


def _read(image, segments: list[tuple[str, int, int]], scale: int, psm: int, min_conf: float) -> list[Word]:
    """One Tesseract call over ``image`` made of vertical ``segments`` (pass name, top, height)."""
    import pytesseract

    data = pytesseract.image_to_data(image, config=f"--psm {psm}", output_type=pytesseract.Output.DICT)
    words = []
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        conf = float(data["conf"][i])
        if not text or conf < min_conf or int(data["level"][i]) != 5:
            continue
        y = int(data["top"][i])
        seg = next(((n, t0) for n, t0, h in segments if t0 <= y < t0 + h), None)
        if seg is None:
            continue
        name, t0 = seg
        left = (int(data["left"][i]) - PAD) / scale
        top = (y - t0 - PAD) / scale
        w, h = int(data["width"][i]) / scale, int(data["height"][i]) / scale
        words.append(Word(text, max(0, int(left)), max(0, int(top)), max(1, int(round(w))), max(1, int(round(h))), conf, (name,)))
    return words


def _run(img: np.ndarray, scale: int, name: str, psm: int, min_conf: float) -> list[Word]:
    padded = _prepare(img, scale, name)
    if padded is None:
        return []
    return _read(padded, [(name, 0, padded.height)], scale, psm, min_conf)


def _run_stacked(imgs: list[tuple[str, np.ndarray]], scale: int, psm: int, min_conf: float) -> list[Word]:
    """Binary passes stacked top to bottom (white gap between) and read in one Tesseract call:
    each call costs a process start and a model load, which dominates on small images."""
    from PIL import Image

    prepared = [(n, p) for n, p in ((n, _prepare(a, scale, n)) for n, a in imgs) if p is not None]
    if not prepared:
        return []
    if len(prepared) == 1:
        n, p = prepared[0]
        return _read(p, [(n, 0, p.height)], scale, psm, min_conf)
    gap = 2 * PAD
    width = max(p.width for _, p in prepared)
    canvas = Image.new("L", (width, sum(p.height for _, p in prepared) + gap * (len(prepared) - 1)), 255)
    segments, y = [], 0
    for n, p in prepared:
        canvas.paste(p, (0, y))
        segments.append((n, y, p.height))
        y += p.height + gap
    return _read(canvas, segments, scale, psm, min_conf)


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    if not inter:
        return 0.0
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0


def merge_words(words: list[Word], thresh: float = 0.3) -> list[Word]:
    """One word per box: overlapping readings from several passes merged (best confidence wins)."""
    out: list[Word] = []
    for w in sorted(words, key=lambda w: -w.confidence):
        for m in out:
            if iou(m.box, w.box) >= thresh:
                m.passes = tuple(dict.fromkeys(m.passes + w.passes))
                if w.text != m.text and w.text not in m.alternatives:
                    m.alternatives = m.alternatives + (w.text,)
                break
        else:
            out.append(dataclasses.replace(w))
    return sorted(out, key=lambda w: (w.top, w.left))


def ocr_words(
    pixels: np.ndarray, *, passes: Sequence[str] = ("bright", "tophat"), scale: int | None = None,
    psm: int = 11, min_conf: float = 20.0,
) -> list[Word]:
    """Words found by Tesseract over ``passes``, merged, in input-image pixels."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    g = to_grey8(pixels)
    s = upscale_factor(g.shape) if scale is None else scale
    found: list[Word] = []
    binary = [(name, PASSES[name](g)) for name in passes if name in BINARY_PASSES]
    found.extend(_run_stacked(binary, s, psm, min_conf))
    for name in passes:
        if name not in BINARY_PASSES:
            found.extend(_run(PASSES[name](g), s, name, psm, min_conf))
    return merge_words(found)

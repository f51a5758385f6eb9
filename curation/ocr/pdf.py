"""Scanned reports: PDF pages rendered with pypdfium2 and OCR'd to text, page by page.

Each page gives ``{"page": n (1-based), "text": ..., "confidence": mean word confidence 0..1,
"words": n}``; lines are kept (Tesseract's block/paragraph/line structure -> newlines).
A PDF with no pages, or one pdfium cannot open, raises :class:`PdfError`.
"""

from __future__ import annotations

import os
from pathlib import Path

from manifests.errors import MedharvestError


class PdfError(MedharvestError):
    """The PDF cannot be read or has no pages."""


def _no_page_objects(path: Path) -> bool:
    """A PDF file with a page tree but no page object (``/Type /Page``) in it."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    import re

    return data.startswith(b"%PDF-") and b"/Pages" in data and re.search(rb"/Type\s*/Page(?!s)", data) is None


def render_pages(path: str | os.PathLike, *, dpi: int = 300, max_pages: int = 50):
    """Yield (page number, grey PIL image) for each page."""
    import pypdfium2 as pdfium

    path = Path(path)
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as err:
        if _no_page_objects(path):
            # PDFium refuses to load a document whose page tree is empty (its error code is stale)
            raise PdfError(f"{path.name}: PDF has no pages") from err
        raise PdfError(f"{path.name}: cannot open PDF ({err})") from err
    except OSError as err:
        raise PdfError(f"{path.name}: cannot open PDF ({err})") from err
    try:
        n = len(pdf)
        if n == 0:
            raise PdfError(f"{path.name}: PDF has no pages")
        for i in range(min(n, max_pages)):
            page = pdf[i]
            try:
                bitmap = page.render(scale=dpi / 72.0, grayscale=True)
                yield i + 1, bitmap.to_pil().convert("L")
            finally:
                page.close()
    finally:
        pdf.close()


def ocr_image_text(image, *, psm: int = 3) -> tuple[str, float, int]:
    """(text with line breaks, mean confidence 0..1, number of words) of one page image."""
    import pytesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    d = pytesseract.image_to_data(image, config=f"--psm {psm}", output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[str]] = {}
    confs: list[float] = []
    for i, word in enumerate(d["text"]):
        word = (word or "").strip()
        conf = float(d["conf"][i])
        if not word or conf < 0:
            continue
        lines.setdefault((d["block_num"][i], d["par_num"][i], d["line_num"][i]), []).append(word)
        confs.append(conf)
    text_lines, last_block = [], None
    for (block, par, _), words in lines.items():
        if last_block is not None and (block, par) != last_block:
            text_lines.append("")
        text_lines.append(" ".join(words))
        last_block = (block, par)
    conf = sum(confs) / len(confs) / 100.0 if confs else 0.0
    return "\n".join(text_lines), round(conf, 3), len(confs)


def ocr_pdf(path: str | os.PathLike, *, dpi: int = 300, max_pages: int = 50) -> list[dict]:
    """OCR every page of a scanned PDF: ``[{"page", "text", "confidence", "words"}]``."""
    pages = []
    for n, image in render_pages(path, dpi=dpi, max_pages=max_pages):
        text, conf, words = ocr_image_text(image)
        pages.append({"page": n, "text": text, "confidence": conf, "words": words})
    return pages

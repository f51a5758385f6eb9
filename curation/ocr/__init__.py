"""OCR: burned-in identifiers in images, and scanned PDF reports to text (a sub-package of :mod:`curation`).

Reads decoded images / files; writes ``phi.json`` (a JSON list, one object per image: ``path``,
``boxes`` of ``{left, top, width, height, text, kind, confidence}`` in pixels of the input image,
and with ``--redact`` ``redacted_path`` + ``verified_clean``) and redacted images.

Public API (import from the modules; nothing heavy is imported here):

* :func:`curation.ocr.tesseract.ocr_words` -- Tesseract ``image_to_data`` in several passes
  (bright-text threshold, inverted, plain; upscaled and padded for small text), merged.
* :func:`curation.ocr.identifiers.find_identifiers` -- classify OCR words into names, dates, ids,
  ages (+ a deny-list from DICOM headers), line context included.
* :func:`curation.ocr.phi_scan.scan_pixels`, :func:`~curation.ocr.phi_scan.redact`,
  :func:`~curation.ocr.phi_scan.scan_and_redact` (redact + verify with a second OCR pass),
  :func:`~curation.ocr.phi_scan.phi_scan` (files -> ``phi.json``, process pool).
* :func:`curation.ocr.pdf.ocr_pdf` -- PDF pages rendered with pypdfium2, OCR'd to text with page
  and confidence kept.

Tesseract runs single-threaded per process (``OMP_THREAD_LIMIT=1``); parallelism is a process pool.
"""

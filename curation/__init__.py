"""Curation: raw stores -> a curated, identifier-free, labelled manifest + image store.

Reads ``<data>/raw/<source>/items.jsonl`` + files (written by crawlers, importers and
``medharvest sample``); writes ``<out>/manifest.parquet`` (:mod:`manifests.schema` records),
``<out>/images/ab/<sha256>.png`` (content-addressed normalised images), ``<out>/stats.json``
(last) and a resume journal ``<out>/.work/journal.jsonl``. Importing this package imports nothing
heavy: every sub-module imports pydicom, Tesseract, spaCy ... inside the functions that use them.

Public API
----------
* :func:`curation.pipeline.curate_run` (``CurateConfig``) -- the whole stage, ``medharvest curate run``:
  decode -> normalise -> burned-in identifier scan + redaction -> store + pHash + quality flags
  (process pool) | text scrub -> NER labels (main process) -> near-duplicate groups.
* :mod:`curation.images` -- decoding (DICOM incl. compressed syntaxes, NIfTI, SVS / DICOM-WSI,
  JPEG/PNG/TIFF), normalisation, the content-addressed store (``decode.decode_file``, ``store.store_png``).
* :mod:`curation.ocr` -- burned-in identifiers (``phi_scan.phi_scan``, ``medharvest curate phi-scan``),
  scanned PDF reports (``pdf.ocr_pdf``), box scoring (``score``).
* :mod:`curation.dedup` -- exact + near-duplicate groups (``group_duplicates``; multi-index hashing).
* :mod:`curation.quality` -- quality flags (too small, blank, extreme aspect ...).
* :mod:`curation.text` -- report / caption NER -> four-state labels, identifier scrub of text
  (``label_reports``, ``scrub_text``, ``run_labels`` = ``medharvest curate labels``).
* :mod:`curation.labelstudio` -- Label Studio round trip (``medharvest annotate``).
"""

"""``medharvest curate``: raw stores -> curated manifest, and each curation step on its own.

Sub-commands:

* ``curate run RAW_DIR... --out DIR`` -- the whole stage (:func:`curation.pipeline.curate_run`).
* ``curate phi-scan IMAGES... --out phi.json [--redact --redacted-dir DIR]`` -- burned-in
  identifiers (:func:`curation.ocr.phi_scan.phi_scan`).
* ``curate labels REPORTS.csv --text-columns COL... --out LABELS.csv`` -- report labels
  (:func:`curation.text.run_labels`).
* ``curate pdf-text PDF... --out texts.jsonl`` -- scanned reports to text (:func:`curation.ocr.pdf.ocr_pdf`).
* ``curate caption`` / ``curate consistency`` -- image-text pairs (:mod:`medharvest.cmd_pairs`).

Heavy libraries (pydicom, pytesseract, spaCy) are imported inside the command functions.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from medharvest.cli import add_common, add_executor

    p = sub.add_parser("curate", help="decode, de-duplicate, OCR, label and scrub raw items into a manifest")
    csub = p.add_subparsers(dest="curate_command", metavar="STEP")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    r = csub.add_parser("run", help="raw stores -> DIR/manifest.parquet + images/ + stats.json (resumes)")
    r.add_argument("raw_dirs", nargs="+", metavar="RAW_DIR", help="<data>, <data>/raw or <data>/raw/<source>")
    r.add_argument("--out", required=True, metavar="DIR")
    r.add_argument("--ocr", action=argparse.BooleanOptionalAction, default=None, help="scan pixels for burned-in identifiers")
    r.add_argument("--redact", action=argparse.BooleanOptionalAction, default=None, help="black out identifiers found in pixels")
    r.add_argument("--labels", action=argparse.BooleanOptionalAction, default=None, help="label report text with the NER labeler")
    r.add_argument("--scrub", action=argparse.BooleanOptionalAction, default=None, help="scrub identifiers from text")
    r.add_argument("--keep-16bit", action=argparse.BooleanOptionalAction, default=None, help="keep >8-bit grey images as 16-bit PNG")
    r.add_argument("--near-dup-threshold", type=int, metavar="BITS", help="pHash Hamming distance of near duplicates (default 6)")
    r.add_argument("--wsi-tiles", type=int, metavar="N", help="also store up to N tissue tiles per whole-slide image")
    r.add_argument("--wsi-magnification", type=float, metavar="X", help="objective magnification of those tiles (default 5)")
    r.add_argument("--workers", type=int, metavar="N", help="worker processes for decode + OCR (default 2; local executor)")
    r.add_argument("--part-rows", type=int, metavar="N",
                   help="write DIR/manifest.parquet/ as a directory of part-*.parquet of at most N rows")
    add_executor(r)
    add_common(r)
    r.set_defaults(func=_run)

    s = csub.add_parser("phi-scan", help="find (and redact) identifiers burned into image pixels -> phi.json")
    s.add_argument("images", nargs="+", metavar="IMAGE")
    s.add_argument("--out", required=True, metavar="PHI_JSON")
    s.add_argument("--redact", action="store_true", help="write redacted copies (needs --redacted-dir)")
    s.add_argument("--redacted-dir", metavar="DIR")
    s.add_argument("--workers", type=int, metavar="N")
    add_common(s)
    s.set_defaults(func=_phi_scan)

    lab = csub.add_parser("labels", help="label a CSV of reports: one row per report, 1/0/-1/blank per finding")
    lab.add_argument("reports", metavar="REPORTS_CSV")
    lab.add_argument("--text-columns", nargs="+", required=True, metavar="COL")
    lab.add_argument("--out", required=True, metavar="LABELS_CSV")
    lab.add_argument("--id-column", metavar="COL")
    lab.add_argument("--vocabulary", default="nih14", choices=("nih14", "chexpert"))
    add_common(lab, config=False)
    lab.set_defaults(func=_labels)

    pdf = csub.add_parser("pdf-text", help="OCR scanned PDF reports -> JSONL of {path, page, text, confidence}")
    pdf.add_argument("pdfs", nargs="+", metavar="PDF")
    pdf.add_argument("--out", required=True, metavar="JSONL")
    pdf.add_argument("--dpi", type=int, default=300)
    add_common(pdf, config=False)
    pdf.set_defaults(func=_pdf_text)

    from medharvest import cmd_pairs

    cmd_pairs.register(csub)


def _run(args) -> int:
    from curation.pipeline import CurateConfig, curate_run
    from medharvest.cli import executor_from
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import progress, summary_table
    from medharvest.runinfo import write_run_json

    flags = {k: getattr(args, k) for k in ("ocr", "redact", "labels", "scrub", "keep_16bit", "near_dup_threshold", "wsi_tiles",
                                      "wsi_magnification", "workers", "part_rows")}
    cfg = resolve(CurateConfig, toml=load_toml(args.config, "curate"), flags=flags)
    with executor_from(args) as executor:
        summary = curate_run(
            cfg, args.raw_dirs, args.out, executor=executor,
            progress=lambda it: progress(it, desc="curate (chunks)", quiet=args.quiet),
            before_stats=lambda s: write_run_json(args.out, "curate run", {**as_dict(cfg), **executor.describe()}, s),
        )
    summary_table(f"curate run -> {args.out}", {k: summary[k] for k in ("records", "status", "processed", "reused",
                  "images_stored", "dup_groups", "quality_flags", "executor", "seconds")}, quiet=args.quiet)
    return 0


def _phi_scan(args) -> int:
    from curation.ocr.phi_scan import PhiScanConfig, phi_scan
    from manifests.errors import UsageError
    from medharvest.config import load_toml, resolve
    from medharvest.output import summary_table

    if args.redact and not args.redacted_dir:
        raise UsageError("--redact needs --redacted-dir DIR (the originals are never modified)")
    cfg = resolve(PhiScanConfig, toml=load_toml(args.config, "curate.phi_scan"), flags={"workers": args.workers})
    summary = phi_scan(args.images, args.out, cfg=cfg, redacted_dir=args.redacted_dir if args.redact else None)
    summary_table(f"phi-scan -> {args.out}", summary, quiet=args.quiet)
    return 0


def _labels(args) -> int:
    from pathlib import Path

    from curation.text import run_labels
    from manifests.errors import UsageError
    from medharvest.output import summary_table

    if not Path(args.reports).is_file():
        raise UsageError(f"reports file '{args.reports}' does not exist")
    summary = run_labels(args.reports, args.text_columns, args.out, id_column=args.id_column, vocabulary=args.vocabulary)
    summary_table(f"labels -> {args.out}", summary, quiet=args.quiet)
    return 0


def _pdf_text(args) -> int:
    import json

    from curation.ocr.pdf import PdfError, ocr_pdf
    from manifests.io import atomic_path
    from medharvest.output import summary_table

    pages = errors = 0
    with atomic_path(args.out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for path in args.pdfs:
            try:
                for page in ocr_pdf(path, dpi=args.dpi):
                    fh.write(json.dumps({"path": path, **page}, ensure_ascii=False) + "\n")
                    pages += 1
            except PdfError as err:
                fh.write(json.dumps({"path": path, "status": "error", "error": str(err)}) + "\n")
                errors += 1
    summary_table(f"pdf-text -> {args.out}", {"pdfs": len(args.pdfs), "pages": pages, "errors": errors}, quiet=args.quiet)
    return 1 if errors == len(args.pdfs) else 0

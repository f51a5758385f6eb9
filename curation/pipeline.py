"""``curate run``: raw stores -> curated manifest + content-addressed image store.

Reads ``<data>/raw/<source>/items.jsonl`` (+ files) of one or more raw stores; writes into ``out``:

* ``images/ab/<sha256>.png`` -- normalised images (exact duplicates share one file);
* ``manifest.parquet`` -- one record per raw item (:mod:`manifests.schema`), written atomically;
* ``stats.json`` -- counts and timings, written last (doubles as the "done" marker);
* ``.work/journal.jsonl`` -- one finished record per line, appended as records finish, so a
  killed run resumes where it stopped; a record is reused when its raw item, its file
  (size + mtime) and the config are unchanged.

Per item: decode (:mod:`curation.images`) -> normalise -> burned-in identifier scan and
redaction (:mod:`curation.ocr`) -> PNG store + pHash + quality flags (in a process pool); text:
identifier scrub then report labels (:mod:`curation.text`, in the main process, overlapping
the pool). Then near-duplicate groups over all records (:mod:`curation.dedup`).
Per-record problems become ``status="error"`` + ``error``; the run always finishes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from manifests.errors import UsageError
from manifests.raw import RawItem, RawStore, find_stores

STAGE_VERSION = "curate/2"
JOURNAL = ".work/journal.jsonl"
#: Image formats whose pixels may carry burned-in text (slides and volumes are not OCR'd).
OCR_FORMATS = frozenset({"dicom", "png", "jpeg", "tiff", "bmp", "gif", "webp", "raster", "mpo", "jpeg2000"})


@dataclasses.dataclass(frozen=True)
class CurateConfig:
    """Settings of ``curate run`` (TOML section ``[curate]``)."""

    ocr: bool = True                  # scan images for burned-in identifiers
    redact: bool = True               # black out what the scan finds (and verify with a second pass)
    ocr_passes: tuple[str, ...] = ("bright", "tophat")
    verify: bool = True
    labels: bool = True               # report / caption labels with the NER labeler
    scrub: bool = True                # identifier scrub of text
    keep_16bit: bool = False          # keep >8-bit grey images as 16-bit PNG
    max_pixels: int = 89_478_485      # PIL's decompression-bomb limit
    thumbnail_size: int = 1024        # whole-slide thumbnails: longest side
    near_dup_threshold: int = 6       # 64-bit pHash Hamming distance: near-duplicate candidates
    near_dup_fine_threshold: int = 10  # 256-bit pHash distance that confirms a candidate
    min_side: int = 32
    max_aspect: float = 4.0
    workers: int = 2
    chunk: int = 32
    png_compress_level: int = 6

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if not 0 <= self.near_dup_threshold <= 32:
            raise ValueError("near_dup_threshold must be between 0 and 32")
        if self.ocr:
            from curation.ocr.phi_scan import PhiScanConfig

            PhiScanConfig(passes=self.ocr_passes)

    def fingerprint(self) -> str:
        """What changes a record (workers / chunk do not)."""
        d = dataclasses.asdict(self)
        for k in ("workers", "chunk", "near_dup_threshold", "near_dup_fine_threshold"):
            d.pop(k)
        d["stage"] = STAGE_VERSION
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# --- the image half (runs in worker processes) -------------------------------------------

def _image_job(job: dict) -> dict:
    """Decode, scan/redact, store one item's file. Returns the image columns + timings."""
    from curation.images.decode import decode_file, sniff
    from curation.images.errors import DecodeError
    from curation.images.store import phash_hex, store_png, to_display
    from curation.quality import QualityConfig, quality_flags

    cfg: CurateConfig = job["cfg"]
    path = Path(job["path"])
    t0 = time.perf_counter()
    rec: dict = {"quality_flags": [], "phi_flags": [], "seconds": {}}
    try:
        if sniff(path) == "pdf":
            return _pdf_job(path, rec, t0)
        dec = decode_file(path, max_pixels=cfg.max_pixels, thumbnail_size=cfg.thumbnail_size, keep_16bit=cfg.keep_16bit)
    except DecodeError as err:
        rec.update(status="error", error=str(err))
        rec["quality_flags"].append(err.flag)
        rec["seconds"]["decode"] = time.perf_counter() - t0
        return rec
    t1 = time.perf_counter()
    rec["seconds"]["decode"] = t1 - t0
    pixels = to_display(dec.pixels, keep_16bit=cfg.keep_16bit)
    rec["phi_flags"].extend(dec.header_phi)
    ocr_info: dict = {}
    if cfg.ocr and dec.format in OCR_FORMATS:
        from curation.ocr.phi_scan import PhiScanConfig, scan_and_redact

        res = scan_and_redact(pixels, dec.deny, PhiScanConfig(passes=cfg.ocr_passes, verify=cfg.verify, workers=1),
                              do_redact=cfg.redact)
        pixels = res.pixels
        for b in res.boxes:
            rec["phi_flags"].append({"where": "image", "kind": b["kind"], "left": b["left"], "top": b["top"],
                                     "width": b["width"], "height": b["height"], "confidence": b["confidence"],
                                     "redacted": res.redacted})
        if res.boxes:
            rec["quality_flags"].append("phi_in_pixels")
        if res.verified_clean is False:
            rec["quality_flags"].append("phi_residual")
        ocr_info = {"identifier_boxes": len(res.boxes), "redacted": res.redacted, "verified_clean": res.verified_clean}
    rec["seconds"]["ocr"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    rec["quality_flags"].extend(quality_flags(pixels, QualityConfig(min_side=cfg.min_side, max_aspect=cfg.max_aspect)))
    rel, sha = store_png(pixels, job["out"], compress_level=cfg.png_compress_level)
    rec.update(
        status="ok", error=None, image_path=rel, image_sha256=sha, phash=phash_hex(pixels),
        width=int(pixels.shape[1]), height=int(pixels.shape[0]), bit_depth=16 if pixels.dtype.itemsize == 2 else 8,
        modality=dec.modality, body_part=dec.body_part, view=dec.view, header_patient_id=dec.patient_id,
        image_meta={"format": dec.format, **dec.meta, **({"ocr": ocr_info} if ocr_info else {}),
                    "phash256": phash_hex(pixels, hash_size=16)},
    )
    rec["seconds"]["store"] = time.perf_counter() - t2
    return rec


def _pdf_job(path: Path, rec: dict, t0: float) -> dict:
    """A scanned report: OCR'd to text (no image)."""
    from curation.ocr.pdf import PdfError, ocr_pdf

    try:
        pages = ocr_pdf(path)
    except PdfError as err:
        rec.update(status="error", error=str(err))
        rec["quality_flags"].append("unreadable")
        rec["seconds"]["ocr"] = time.perf_counter() - t0
        return rec
    rec.update(status="ok", error=None, ocr_text="\n\n".join(p["text"] for p in pages),
               image_meta={"format": "pdf", "pages": [{"page": p["page"], "confidence": p["confidence"]} for p in pages]})
    rec["quality_flags"].append("no_image")
    rec["seconds"]["ocr"] = time.perf_counter() - t0
    return rec


def _worker_init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


# --- the text half (main process) ----------------------------------------------------------

class TextError(ValueError):
    """The item's text cannot be used (not UTF-8, empty report)."""


def read_text(item: RawItem, store: RawStore) -> str | None:
    """The item's text: ``item.text``, or the file named by ``meta["text_file"]``; strict UTF-8."""
    text = item.text
    tf = (item.meta or {}).get("text_file")
    if text is None and tf:
        p = Path(tf) if Path(tf).is_absolute() else store.root / tf
        try:
            data = p.read_bytes()
        except OSError as err:
            raise TextError(f"cannot read text file '{tf}': {err.strerror or err}") from err
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise TextError(f"text file '{tf}' is not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})") from err
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise TextError(f"text is not valid UTF-8 (undecodable character at position {err.start})") from err
    if not text.strip():
        raise TextError(f"empty {item.text_kind or 'text'}")
    return text.replace("\r\n", "\n")


def text_columns(texts: list[str | None], cfg: CurateConfig) -> list[dict]:
    """Scrubbed text, phi flags, entities and NER labels for a batch of texts (None: no text)."""
    from manifests.labels import NIH15
    from manifests.schema import labels_list

    out: list[dict] = [{"text": t, "phi_flags": [], "entities": [], "labels": []} for t in texts]
    idx = [i for i, t in enumerate(texts) if t]
    if not idx:
        return out
    if cfg.scrub:
        from curation.text import scrub_text

        for i in idx:
            scrubbed, flags = scrub_text(texts[i])
            out[i]["text"] = scrubbed
            out[i]["phi_flags"] = [{**f, "where": "text"} for f in flags]
    if cfg.labels:
        from curation.text import label_reports

        for i, rl in zip(idx, label_reports([out[i]["text"] for i in idx])):
            out[i]["entities"] = list(rl.entities)
            chexpert_only = {k: v for k, v in rl.chexpert.items() if k not in NIH15}
            out[i]["labels"] = labels_list(dict(rl.nih), "ner") + labels_list(chexpert_only, "ner")
    return out


# --- records ------------------------------------------------------------------------------

def _canonical_labels(labels: dict[str, str]) -> dict[str, str]:
    from manifests.labels import canonical

    out = {}
    for name, state in (labels or {}).items():
        try:
            out[canonical(name)] = state
        except UsageError:
            out[name] = state  # kept as the source spelled it; `manifest validate` reports it
    return out


def _base_record(item: RawItem) -> dict:
    from manifests.schema import labels_list

    boxes = [
        {"label": b.get("label"), "x": b.get("x"), "y": b.get("y"), "w": b.get("w"), "h": b.get("h"),
         "label_source": b.get("label_source") or "dataset", "annotator": b.get("annotator")}
        for b in item.boxes or []
    ]
    return {
        "key": item.key, "source": item.source, "source_id": item.source_id, "source_url": item.source_url,
        "retrieved_at": item.retrieved_at, "license": item.license, "license_url": item.license_url,
        "attribution": item.attribution, "modality": item.modality, "body_part": item.body_part, "view": item.view,
        "patient_id": item.patient_id, "study_id": item.study_id, "text_kind": item.text_kind,
        "labels": labels_list(_canonical_labels(item.labels), item.label_source or "dataset"),
        "boxes": boxes, "split": item.split, "synthetic": False, "status": "ok", "error": None,
        "stage_version": STAGE_VERSION, "phi_flags": [], "quality_flags": [], "entities": [],
    }


def _finish(rec: dict, item: RawItem, img: dict | None, txt: dict | None, text_error: str | None) -> dict:
    meta = dict(item.meta or {})
    errors = []
    if img is not None:
        if img.get("status") == "error":
            errors.append(img["error"])
        for col in ("image_path", "image_sha256", "phash", "width", "height", "bit_depth"):
            rec[col] = img.get(col)
        for col in ("modality", "body_part", "view"):
            rec[col] = rec[col] or img.get(col)
        if not rec["patient_id"] and img.get("header_patient_id"):
            rec["patient_id"] = img["header_patient_id"]  # hashed DICOM PatientID
        rec["phi_flags"] += img.get("phi_flags", [])
        rec["quality_flags"] += img.get("quality_flags", [])
        if img.get("image_meta"):
            meta["image"] = img["image_meta"]
    elif item.file is None:
        rec["quality_flags"].append("no_image")
    if text_error:
        errors.append(text_error)
        rec["quality_flags"].append("empty_text" if text_error.startswith("empty") else "bad_text")
    if txt is not None:
        rec["text"] = txt["text"]
        rec["phi_flags"] += txt["phi_flags"]
        rec["entities"] = txt["entities"]
        rec["labels"] = rec["labels"] + txt["labels"]
    if rec["body_part"]:
        rec["body_part"] = rec["body_part"].lower()
    rec["meta"] = json.dumps(meta, sort_keys=True, default=str) if meta else None
    if errors:
        rec["status"], rec["error"] = "error", "; ".join(errors)
    return rec


def _item_fingerprint(item: RawItem, path: Path | None, cfg_fp: str) -> str:
    h = hashlib.sha256(cfg_fp.encode())
    h.update(item.to_json().encode())
    if path is not None:
        try:
            st = path.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()


def _load_journal(path: Path) -> dict[str, tuple[str, dict]]:
    done: dict[str, tuple[str, dict]] = {}
    if not path.exists():
        return done
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # a killed run's partial last line
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                continue
            done[entry["record"]["key"]] = (entry["fp"], entry["record"])
    return done


def _to_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


# --- the stage ------------------------------------------------------------------------------

def curate_run(
    cfg: CurateConfig, raw_dirs: Iterable[str | os.PathLike], out: str | os.PathLike, *,
    progress: Callable[[Iterable], Iterable] | None = None, before_stats: Callable[[dict], None] | None = None,
) -> dict:
    """Curate the raw stores under ``raw_dirs`` into ``out``; returns the summary (= stats.json)."""
    from curation.dedup import group_duplicates
    from manifests.io import MANIFEST_NAME, write_json_atomic, write_manifest
    from manifests.schema import from_records

    raw_dirs = [Path(d) for d in raw_dirs]
    if not raw_dirs:
        raise UsageError("curate run needs at least one raw directory")
    stores: list[RawStore] = []
    for d in raw_dirs:
        if not d.exists():
            raise UsageError(f"raw directory '{d}' does not exist")
        stores.extend(find_stores(d))
    out = Path(out)
    if out.resolve() in {d.resolve() for d in raw_dirs}:
        raise UsageError("--out must not be a raw directory (a stage never edits its input)")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    items: list[tuple[RawStore, RawItem]] = []
    seen: set[str] = set()
    duplicate_keys = 0
    for store in stores:
        for item in store.latest().values():
            if item.key in seen:
                duplicate_keys += 1
                continue
            seen.add(item.key)
            items.append((store, item))
    items.sort(key=lambda si: si[1].key)

    cfg_fp = cfg.fingerprint()
    journal_path = out / JOURNAL
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    journal = _load_journal(journal_path)
    records: dict[str, dict] = {}
    todo: list[tuple[RawStore, RawItem, Path | None, str]] = []
    for store, item in items:
        path = store.resolve(item)
        fp = _item_fingerprint(item, path, cfg_fp)
        old = journal.get(item.key)
        if old is not None and old[0] == fp:
            records[item.key] = old[1]
        else:
            todo.append((store, item, path, fp))
    reused = len(records)

    timings: Counter = Counter()
    chunks = [todo[i:i + cfg.chunk] for i in range(0, len(todo), cfg.chunk)]
    pool = ProcessPoolExecutor(max_workers=cfg.workers, initializer=_worker_init) if cfg.workers > 1 and todo else None
    try:
        with open(journal_path, "a", encoding="utf-8") as jfh:
            for chunk in (progress(chunks) if progress else chunks):
                records.update(_run_chunk(chunk, cfg, out, pool, jfh, timings))
    finally:
        if pool is not None:
            pool.shutdown()

    t_dedup = time.perf_counter()
    ordered = [records[item.key] for _, item in items]
    ok = [r for r in ordered if r.get("image_sha256")]
    fine = [json.loads(r["meta"] or "{}").get("image", {}).get("phash256") for r in ok]
    groups, flags = group_duplicates([r["key"] for r in ok], [r["image_sha256"] for r in ok], [r["phash"] for r in ok],
                                     threshold=cfg.near_dup_threshold, fine=fine, fine_threshold=cfg.near_dup_fine_threshold)
    final = []
    for r in ordered:
        r = {k: v for k, v in r.items()}
        r["quality_flags"] = [f for f in r["quality_flags"] if f not in ("exact_duplicate", "near_duplicate")]
        r["dup_group"] = groups.get(r["key"])
        if r["key"] in flags:
            r["quality_flags"].append(flags[r["key"]])
        r["retrieved_at"] = _to_datetime(r.get("retrieved_at"))
        final.append(r)
    timings["dedup"] += time.perf_counter() - t_dedup
    write_manifest(from_records(final), out / MANIFEST_NAME, meta={"stage": STAGE_VERSION, "config": dataclasses.asdict(cfg)})
    wall = time.perf_counter() - t_start

    status = Counter(r["status"] for r in final)
    qflags = Counter(f for r in final for f in r["quality_flags"])
    summary = {
        "stage": STAGE_VERSION,
        "records": len(final),
        "status": dict(status),
        "processed": len(todo),
        "reused": reused,
        "duplicate_keys_skipped": duplicate_keys,
        "sources": dict(Counter(r["source"] for r in final)),
        "images_stored": len({r["image_sha256"] for r in ok}),
        "dup_groups": len(set(groups.values())),
        "quality_flags": dict(qflags),
        "phi_flags": dict(Counter(f"{f['where']}:{f['kind']}" for r in final for f in r["phi_flags"])),
        "error_examples": [f"{r['key']}: {r['error']}" for r in final if r["status"] == "error"][:10],
        "seconds": round(wall, 3),
        "items_per_s": round(len(todo) / wall, 3) if todo and wall else None,
        "stage_seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    if before_stats is not None:
        before_stats(summary)
    write_json_atomic(out / "stats.json", summary)
    return summary


def _run_chunk(chunk, cfg: CurateConfig, out: Path, pool, jfh, timings: Counter) -> dict[str, dict]:
    jobs, job_idx = [], []
    for i, (_, item, path, _) in enumerate(chunk):
        if item.status == "ok" and path is not None:
            jobs.append({"path": str(path), "cfg": cfg, "out": str(out)})
            job_idx.append(i)
    results = pool.map(_image_job, jobs) if pool is not None else map(_image_job, jobs)
    # text of this chunk in the main process while the pool decodes and OCRs
    t0 = time.perf_counter()
    texts: list[str | None] = []
    text_errors: list[str | None] = []
    for store, item, _, _ in chunk:
        try:
            texts.append(read_text(item, store))
            text_errors.append(None)
        except TextError as err:
            texts.append(None)
            text_errors.append(str(err))
    txt = text_columns(texts, cfg)
    timings["text"] += time.perf_counter() - t0
    imgs: list[dict | None] = [None] * len(chunk)
    for i, res in zip(job_idx, results):
        imgs[i] = res
        for k, v in res.pop("seconds", {}).items():
            timings[k] += v
    # scanned PDF reports: their OCR text goes through scrub + labels now
    pdf_idx = [i for i, r in enumerate(imgs) if r and r.get("ocr_text") is not None and texts[i] is None]
    has_text = {i for i, t in enumerate(texts) if t is not None} | set(pdf_idx)
    if pdf_idx:
        t1 = time.perf_counter()
        for i, cols in zip(pdf_idx, text_columns([imgs[i].pop("ocr_text") or None for i in pdf_idx], cfg)):
            txt[i] = cols
            chunk[i][1].text_kind = chunk[i][1].text_kind or "ocr"
        timings["text"] += time.perf_counter() - t1
    done: dict[str, dict] = {}
    for i, (store, item, path, fp) in enumerate(chunk):
        rec = _base_record(item)
        if item.status != "ok":
            rec["status"], rec["error"] = item.status, item.error or f"raw item has status {item.status}"
        elif item.file is not None and path is None:
            rec["status"], rec["error"] = "error", f"file '{item.file}' not found"
        if imgs[i] is not None:
            imgs[i].pop("ocr_text", None)
        rec = _finish(rec, item, imgs[i], txt[i] if i in has_text else None, text_errors[i])
        done[item.key] = rec
        jfh.write(json.dumps({"fp": fp, "record": rec}, default=str, ensure_ascii=False) + "\n")
    jfh.flush()
    os.fsync(jfh.fileno())
    return done

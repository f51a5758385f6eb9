"""``curate run``: raw stores -> curated manifest + content-addressed image store.

Reads ``<data>/raw/<source>/items.jsonl`` (+ files) of one or more raw stores; writes into ``out``:

* ``images/ab/<sha256>.png`` -- normalised images (exact duplicates share one file);
* ``manifest.parquet`` -- one record per raw item (:mod:`manifests.schema`), written atomically
  (``part_rows > 0``: a directory ``manifest.parquet/part-*.parquet``);
* ``stats.json`` -- counts and timings, written last (doubles as the "done" marker);
* ``run.json`` -- via the ``before_stats`` hook the CLI passes;
* ``.work/journal.jsonl`` -- one finished record per line, appended as records finish, so a
  killed run resumes where it stopped; a record is reused when its raw item, its file
  (size + mtime) and the config are unchanged.

Per item: decode (:mod:`curation.images`) -> normalise -> burned-in identifier scan and
redaction (:mod:`curation.ocr`) -> PNG store + pHash + quality flags (in a process pool); text:
identifier scrub then report labels (:mod:`curation.text`, in the main process, overlapping
the pool); ``executor=<ray>`` runs the same functions as Ray tasks and actors instead
(:mod:`curation.engines`). Then near-duplicate groups over all records (:mod:`curation.dedup`).
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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from curation.config import STAGE_VERSION, CurateConfig
from curation.records import TextError, base_record, finish, mask_identifiers, read_text
from manifests.errors import UsageError
from manifests.guards import disk_full_is_stage_error, run_lock
from manifests.jsonl import complete_lines, open_append
from manifests.paths import OutsideRoot
from manifests.raw import RawItem, RawStore, find_stores

if TYPE_CHECKING:
    from manifests.executor import Executor

JOURNAL = ".work/journal.jsonl"
LOCK_NAME = ".curate.lock"   # one curate run per --out (manifests.guards.run_lock)


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
    for _, raw in complete_lines(path):   # a killed run's partial last line is not read
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
    executor: Executor | None = None,
) -> dict:
    """Curate the raw stores under ``raw_dirs`` into ``out``; returns the summary (= stats.json).

    ``executor`` (:mod:`manifests.executor`, started): where the per-record work runs; None or
    ``local`` is this machine's process pool, ``ray`` a Ray cluster (:mod:`curation.engines`).
    The global steps (near-duplicate grouping, the manifest write) run here, on the driver.
    One run per ``out`` (a second one stops naming the holder); a full disk is "disk full" (what
    is done stays in the journal; the same command resumes).
    """
    raw_dirs = [Path(d) for d in raw_dirs]
    out = Path(out)
    if executor is not None and executor.distributed:  # tasks run elsewhere: no paths relative to this cwd
        raw_dirs, out = [d.absolute() for d in raw_dirs], out.absolute()
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

    def done() -> str:
        j = out / JOURNAL
        n = j.read_bytes().count(b"\n") if j.exists() else 0
        return f"{n} record(s) done are kept in {j}"

    with run_lock(out, name=LOCK_NAME, what="curate run"), disk_full_is_stage_error(out, done):
        return _curate(cfg, stores, out, progress, before_stats, executor)


def _curate(cfg: CurateConfig, stores: list[RawStore], out: Path, progress, before_stats, executor) -> dict:
    from curation.dedup import group_duplicates
    from curation.engines import make_engine
    from manifests.io import MANIFEST_NAME, write_json_atomic, write_manifest
    from manifests.schema import from_records

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
    journal = _load_journal(journal_path)
    records: dict[str, dict] = {}
    todo: list[tuple[RawStore, RawItem, Path | None, str]] = []
    for store, item in items:
        try:
            path = store.resolve(item)
        except OutsideRoot as err:   # never read: the record says why
            item, path = dataclasses.replace(item, status="error", error=str(err)), None
        fp = _item_fingerprint(item, path, cfg_fp)
        old = journal.get(item.key)
        if old is not None and old[0] == fp:
            records[item.key] = old[1]
        else:
            todo.append((store, item, path, fp))
    reused = len(records)

    timings: Counter = Counter()
    engine = make_engine(cfg, executor) if todo else None
    try:
        size = engine.chunk if engine is not None else cfg.chunk
        chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
        with open_append(journal_path) as jfh:
            for chunk in (progress(chunks) if progress else chunks):
                records.update(_run_chunk(chunk, cfg, out, engine, jfh, timings))
    finally:
        if engine is not None:
            engine.close()

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
    write_manifest(from_records(final), out / MANIFEST_NAME, meta={"stage": STAGE_VERSION, "config": dataclasses.asdict(cfg)},
                   part_rows=cfg.part_rows or None)
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
        **(executor.describe() if executor is not None else {"executor": "local"}),
    }
    if before_stats is not None:
        before_stats(summary)
    write_json_atomic(out / "stats.json", summary)
    return summary


def _run_chunk(chunk, cfg: CurateConfig, out: Path, engine, jfh, timings: Counter) -> dict[str, dict]:
    jobs, job_idx = [], []
    for i, (_, item, path, _) in enumerate(chunk):
        if item.status == "ok" and path is not None:
            jobs.append({"path": str(path), "cfg": cfg, "out": str(out), "sha256": item.sha256})
            job_idx.append(i)
    handle = engine.start_images(jobs)
    # text of this chunk while the pool decodes and OCRs
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
    txt_handle = engine.texts(texts)
    timings["text"] += time.perf_counter() - t0
    imgs: list[dict | None] = [None] * len(chunk)
    results = engine.image_results(handle, jobs)
    t0 = time.perf_counter()
    txt = txt_handle()
    timings["text_wait"] += time.perf_counter() - t0
    for i, res in zip(job_idx, results):
        imgs[i] = res
        for k, v in res.pop("seconds", {}).items():
            timings[k] += v
    # scanned PDF reports: their OCR text goes through scrub + labels now
    pdf_idx = [i for i, r in enumerate(imgs) if r and r.get("ocr_text") is not None and texts[i] is None]
    has_text = {i for i, t in enumerate(texts) if t is not None} | set(pdf_idx)
    if pdf_idx:
        t1 = time.perf_counter()
        for i, cols in zip(pdf_idx, engine.texts([imgs[i].pop("ocr_text") or None for i in pdf_idx])()):
            txt[i] = cols
            chunk[i][1].text_kind = chunk[i][1].text_kind or "ocr"
        timings["text"] += time.perf_counter() - t1
    done: dict[str, dict] = {}
    for i, (_store, item, path, fp) in enumerate(chunk):
        rec = base_record(item)
        if item.status != "ok":
            rec["status"], rec["error"] = item.status, item.error or f"raw item has status {item.status}"
        elif item.file is not None and path is None:
            rec["status"], rec["error"] = "error", f"file '{item.file}' not found"
        if imgs[i] is not None:
            imgs[i].pop("ocr_text", None)
            deny = imgs[i].pop("deny", None)
            if deny and i in has_text and txt[i]["text"]:
                txt[i]["text"], flags = mask_identifiers(txt[i]["text"], deny)
                txt[i]["phi_flags"] = txt[i]["phi_flags"] + flags
        rec = finish(rec, item, imgs[i], txt[i] if i in has_text else None, text_errors[i])
        done[item.key] = rec
        jfh.write(json.dumps({"fp": fp, "record": rec}, default=str, ensure_ascii=False) + "\n")
    jfh.flush()
    os.fsync(jfh.fileno())
    return done

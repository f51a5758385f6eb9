"""``curate caption``: add a caption (a new text, ``text_kind="caption"``) to a manifest's images.

Reads a manifest; writes into ``out``: ``manifest.parquet`` (every input record, image paths rebased,
the new captions appended to each record's ``captions`` list -- a report in ``text`` is never
touched), ``.work/captions.jsonl`` (resume journal: one finished caption per line) and
``stats.json`` (last). Each caption is scrubbed of identifiers and labelled by the report NER
(:mod:`curation.text`; labels ``label_source="caption"``) and carries its provenance (captioner,
model, weights sha256 or endpoint, prompt version).

Records: ``status == "ok"`` with an image get a caption (``only_missing``: only those with no text
and no caption yet); a record that already holds an ``ok`` caption with the same provenance is left
alone. A caption that fails is stored with ``status="error"`` and its ``error`` (the record itself
keeps its own status); a re-run retries failed captions and reuses finished ones from the journal
when the record's image, labels and metadata and the captioner's provenance are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from curation.caption.base import CaptionFailure, CaptionInput, Captioner, CaptionSettings, get_captioner

STAGE_VERSION = "caption/1"
JOURNAL = ".work/captions.jsonl"
PROVENANCE_KEYS = ("captioner", "model", "weights_sha256", "endpoint", "prompt_version")


@dataclasses.dataclass(frozen=True)
class CaptionConfig:
    """``curate caption`` settings (TOML ``[curate.caption]``)."""

    captioner: str = "template"
    only_missing: bool = False
    scrub: bool = True
    labels: bool = True
    model: str | None = None
    endpoint: str | None = None
    batch_size: int = 8
    max_new_tokens: int = 40
    device: str | None = None
    max_requests: int = 1000
    retries: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 60.0

    def __post_init__(self):
        get_captioner(self.captioner)  # unknown name: usage error with "did you mean"
        self.settings()  # bad numbers: usage error before any work

    def settings(self, api_key: str | None = None) -> CaptionSettings:
        """The captioner's settings; the API key comes from the environment (the CLI), never a config."""
        names = {f.name for f in dataclasses.fields(CaptionSettings)} - {"api_key"}
        return CaptionSettings(api_key=api_key, **{n: getattr(self, n) for n in names})


def _fingerprint(rec: dict, prov: dict, cfg: CaptionConfig) -> str:
    h = hashlib.sha256(json.dumps({**prov, "v": STAGE_VERSION, "scrub": cfg.scrub, "labels": cfg.labels,
                                   "max_new_tokens": cfg.max_new_tokens}, sort_keys=True).encode())
    h.update(json.dumps([rec.get(c) for c in ("key", "image_sha256", "modality", "view", "body_part", "meta")],
                        default=str).encode())
    h.update(json.dumps(rec.get("labels") or [], sort_keys=True, default=str).encode())
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
                e = json.loads(raw)
            except json.JSONDecodeError:
                continue
            done[e["key"]] = (e["fp"], e["caption"])
    return done


def annotate_texts(texts: list[str], *, scrub: bool = True, labels: bool = True) -> list[dict]:
    """Scrub + NER of caption texts -> ``{text, phi_flags, entities, labels}`` (like a report's)."""
    from manifests.labels import NIH15
    from manifests.schema import labels_list

    out = [{"text": t, "phi_flags": [], "entities": [], "labels": []} for t in texts]
    if scrub:
        from curation.text import scrub_text

        for o in out:
            o["text"], flags = scrub_text(o["text"])
            o["phi_flags"] = [{**f, "where": "text"} for f in flags]
    if labels and out:
        from curation.text import label_reports

        for o, rl in zip(out, label_reports([o["text"] for o in out])):
            o["entities"] = list(rl.entities)
            chexpert_only = {k: v for k, v in rl.chexpert.items() if k not in NIH15}
            o["labels"] = labels_list(dict(rl.nih), "caption") + labels_list(chexpert_only, "caption")
    return out


def _wanted(rec: dict, cfg: CaptionConfig, prov: dict) -> str | None:
    """Why the record gets no caption (None: it gets one)."""
    from manifests.schema import record_text

    if rec.get("status") != "ok":
        return "not_ok"
    if not rec.get("image_path"):
        return "no_image"
    for cap in rec.get("captions") or []:
        if cap.get("status") == "ok" and all(cap.get(k) == prov.get(k) for k in PROVENANCE_KEYS):
            return "already_captioned"
    if cfg.only_missing and record_text(rec)[0] is not None:
        return "has_text"
    return None


def caption_run(cfg: CaptionConfig, manifest: str | Path, out: str | Path, *,
                captioner: Captioner | None = None,
                progress: Callable[[Iterable], Iterable] = lambda it: it,
                before_stats: Callable[[dict], None] | None = None) -> dict:
    """Caption ``manifest``'s images into ``out``; returns the summary (also ``out/stats.json``)."""
    import pyarrow as pa

    from manifests.io import read_manifest, rebase_image_paths, stage_input, write_json_atomic, write_manifest
    from manifests.schema import CAPTION_TYPE

    t0 = time.perf_counter()
    src, out = stage_input(manifest, out), Path(out)
    cap = captioner or get_captioner(cfg.captioner)(cfg.settings())
    prov = {"captioner": cap.name, **cap.provenance()}
    table = read_manifest(src)
    records = table.to_pylist()
    (out / ".work").mkdir(parents=True, exist_ok=True)
    journal_path = out / JOURNAL
    journal = _load_journal(journal_path)
    skipped: Counter = Counter()
    todo: list[int] = []
    new_caps: dict[int, dict] = {}
    reused = 0
    for i, rec in enumerate(records):
        why = _wanted(rec, cfg, prov)
        if why:
            skipped[why] += 1
            continue
        fp = _fingerprint(rec, prov, cfg)
        old = journal.get(rec["key"])
        if old and old[0] == fp and old[1].get("status") == "ok":
            new_caps[i] = old[1]
            reused += 1
        else:
            todo.append(i)
    status: Counter = Counter()
    caption_s = 0.0
    if todo:
        cap.load()
        bs = max(1, cfg.batch_size)
        batches = [todo[k:k + bs] for k in range(0, len(todo), bs)]
        with open(journal_path, "a", encoding="utf-8") as jf:
            for batch in progress(batches):
                items = [CaptionInput(records[i]["key"], records[i], src.parent / records[i]["image_path"]) for i in batch]
                t1 = time.perf_counter()
                results = cap.caption_batch(items)
                caption_s += time.perf_counter() - t1
                ok = [(i, r) for i, r in zip(batch, results) if isinstance(r, str)]
                annotated = annotate_texts([r for _, r in ok], scrub=cfg.scrub, labels=cfg.labels)
                texts = {i: a for (i, _), a in zip(ok, annotated)}
                now = datetime.now(timezone.utc).isoformat(timespec="seconds")
                for i, r in zip(batch, results):
                    entry = {**prov, "text_kind": "caption", "created_at": now, "text": None, "entities": [],
                             "labels": [], "phi_flags": [], "status": "ok", "error": None}
                    if isinstance(r, CaptionFailure):
                        entry.update(status="error", error=str(r))
                    else:
                        entry.update(texts[i])
                    status[entry["status"]] += 1
                    new_caps[i] = entry
                    jf.write(json.dumps({"key": records[i]["key"], "fp": _fingerprint(records[i], prov, cfg),
                                         "caption": entry}, ensure_ascii=False) + "\n")
                jf.flush()
    status["ok"] += reused
    captions = []
    for i, rec in enumerate(records):
        caps = [c for c in (rec.get("captions") or [])
                if not (i in new_caps and all(c.get(k) == prov.get(k) for k in PROVENANCE_KEYS))]
        if i in new_caps:
            caps.append(new_caps[i])
        captions.append(caps)
    table = rebase_image_paths(table, src.parent, out)
    col = pa.array(captions, type=pa.list_(CAPTION_TYPE))
    table = table.set_column(table.schema.get_field_index("captions"), "captions", col)
    path = write_manifest(table, out / "manifest.parquet", meta={"caption": {"input": str(src), **prov}})
    summary = {
        "manifest": str(path), "records": len(records), "captioner": cap.name, "provenance": prov,
        "captioned": len(todo), "reused": reused, "caption_status": dict(status), "skipped": dict(skipped),
        "requests": getattr(cap, "requests_made", None),
        "captions_per_s": round(len(todo) / caption_s, 2) if caption_s > 0 else None,
        "seconds": round(time.perf_counter() - t0, 3), "stage_version": STAGE_VERSION,
    }
    if before_stats:
        before_stats(summary)
    write_json_atomic(out / "stats.json", summary)
    return summary

"""``curate consistency``: does each pair's text describe its image? One ``consistency`` entry per record.

Reads a manifest; writes into ``out`` ``manifest.parquet`` (input records, image paths rebased, the
``consistency`` column set: :data:`manifests.schema.CONSISTENCY_TYPE`) and ``stats.json`` (last:
checks run, flag counts, score distribution, the worst pairs). Checks, each where it can run:

* structured (:mod:`.structured`): view / modality / body part / laterality / demographics, header vs text;
* labels (:mod:`.labels`): text labels vs an image classifier's probabilities (a ``ProbabilityProvider``);
* embedding (:mod:`.embedding`): CLIP-family image-text similarity.

The text is the record's own (report) or, for an image-only record, its newest caption. Score:
the product of one factor per flag (``flag_weight``, 0.5 by default: one flag -> 0.5, two -> 0.25),
times the CLIP similarity term when that ran; 1.0 = nothing contradicts. Records that are not ``ok``,
or have no image or no text, get a null entry. The run is cheap and deterministic, so a re-run
recomputes everything (no journal).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curation.consistency.labels import ProbabilityProvider, label_checks, text_states
from curation.consistency.structured import structured_checks

STAGE_VERSION = "consistency/1"


@dataclasses.dataclass(frozen=True)
class ConsistencyConfig:
    """Thresholds of ``curate consistency`` (TOML ``[curate.consistency]``)."""

    positive_below: float = 0.01        # text positive but classifier p below this: contradiction ...
    other_above: float = 0.9            # ... while another class has p above this (single-label models)
    negative_above: float = 0.95        # text negative but classifier p above this: contradiction
    clip_min_similarity: float = 0.2    # CLIP cosine below this: low_similarity
    flag_weight: float = 0.5            # score factor per flag
    structured: bool = True
    worst: int = 20                     # worst pairs listed in stats.json

    def __post_init__(self):
        if not (0.0 <= self.positive_below < 1.0 and 0.0 < self.negative_above <= 1.0):
            raise ValueError("positive_below must be in [0, 1) and negative_above in (0, 1]")
        if not 0.0 <= self.flag_weight < 1.0:
            raise ValueError("flag_weight must be in [0, 1)")
        if not -1.0 <= self.clip_min_similarity <= 1.0:
            raise ValueError("clip_min_similarity must be in [-1, 1]")


def _text_and_caption_labels(rec: dict) -> tuple[str | None, list[dict] | None]:
    from manifests.schema import record_text

    text, kind = record_text(rec)
    if kind != "caption":
        return text, None
    cap = next(c for c in reversed(rec.get("captions") or []) if c.get("status") == "ok" and c.get("text") == text)
    return text, list(cap.get("labels") or [])


def check_records(cfg: ConsistencyConfig, records: list[dict], image_root: Path, *,
                  probabilities: ProbabilityProvider | None = None, clip=None) -> list[dict | None]:
    """One consistency entry (or None: not checkable) per record, in order."""
    entries: list[dict | None] = [None] * len(records)
    work: list[tuple[int, str, list | None]] = []
    for i, rec in enumerate(records):
        if rec.get("status") != "ok" or not rec.get("image_path"):
            continue
        text, cap_labels = _text_and_caption_labels(rec)
        if text:
            work.append((i, text, cap_labels))
    per: dict[int, dict] = {i: {"checks": [], "flags": [], "details": {}} for i, _, _ in work}
    if cfg.structured:
        for i, text, _ in work:
            checks, flags, details = structured_checks(records[i], text)
            per[i]["checks"] += checks
            per[i]["flags"] += flags
            per[i]["details"].update(details)
    if probabilities is not None and work:
        paths = [image_root / records[i]["image_path"] for i, _, _ in work]
        probs = np.asarray(probabilities.predict(paths), dtype=np.float64)
        for (i, _, cap_labels), p in zip(work, probs):
            states = text_states(records[i], cap_labels)
            if not any(states.get(c) in ("positive", "negative") for c in probabilities.classes):
                continue
            flags, ev = label_checks(states, p, probabilities.classes, positive_below=cfg.positive_below,
                                     negative_above=cfg.negative_above, other_above=cfg.other_above,
                                     multi_label=probabilities.multi_label)
            per[i]["checks"].append("labels")
            per[i]["flags"] += flags
            per[i]["details"]["labels"] = {"model": probabilities.name, "contradictions": ev,
                                           "p": {c: round(float(x), 4) for c, x in zip(probabilities.classes, p)}}
    sims: dict[int, float] = {}
    if clip is not None and work:
        vals = clip.similarity([image_root / records[i]["image_path"] for i, _, _ in work], [t for _, t, _ in work])
        for (i, _, _), s in zip(work, vals):
            sims[i] = float(s)
            per[i]["checks"].append("embedding")
            per[i]["details"]["embedding"] = {"model": clip.name, "similarity": round(float(s), 4)}
            if s < cfg.clip_min_similarity:
                per[i]["flags"].append("low_similarity")
    for i, e in per.items():
        score = cfg.flag_weight ** len(e["flags"])
        if i in sims:
            score *= min(1.0, max(0.0, (sims[i] + 1.0) / 2.0)) ** 0.25
        entries[i] = {"score": round(float(score), 4), "flags": e["flags"], "checks": e["checks"],
                      "details": json.dumps(e["details"], sort_keys=True)}
    return entries


def consistency_run(cfg: ConsistencyConfig, manifest: str | Path, out: str | Path, *,
                    probabilities: ProbabilityProvider | None = None, clip=None,
                    before_stats: Callable[[dict], None] | None = None) -> dict:
    import pyarrow as pa

    from manifests.io import read_manifest, rebase_image_paths, stage_input, write_json_atomic, write_manifest
    from manifests.schema import CONSISTENCY_TYPE

    t0 = time.perf_counter()
    src, out = stage_input(manifest, out), Path(out)
    table = read_manifest(src)
    records = table.to_pylist()
    t1 = time.perf_counter()
    entries = check_records(cfg, records, src.parent, probabilities=probabilities, clip=clip)
    check_s = time.perf_counter() - t1
    table = rebase_image_paths(table, src.parent, out)
    table = table.set_column(table.schema.get_field_index("consistency"), "consistency",
                             pa.array(entries, type=CONSISTENCY_TYPE))
    out.mkdir(parents=True, exist_ok=True)
    path = write_manifest(table, out / "manifest.parquet", meta={"consistency": {
        "input": str(src), "classifier": probabilities.name if probabilities else None,
        "clip": getattr(clip, "name", None), "config": dataclasses.asdict(cfg)}})
    checked = [(r["key"], e) for r, e in zip(records, entries) if e is not None]
    flags: Counter = Counter(f.split(":")[0] for _, e in checked for f in e["flags"])
    checks: Counter = Counter(c for _, e in checked for c in e["checks"])
    scores = np.array([e["score"] for _, e in checked], dtype=np.float64)
    worst = sorted(checked, key=lambda ke: (ke[1]["score"], ke[0]))[:cfg.worst]
    summary = {
        "manifest": str(path), "records": len(records), "checked": len(checked),
        "flagged": int(sum(1 for _, e in checked if e["flags"])), "checks": dict(checks), "flags": dict(flags),
        "score_histogram": {f"{lo:.1f}-{lo + 0.1:.1f}": int(((scores >= lo) & ((scores < lo + 0.1) | (lo >= 0.9))).sum())
                            for lo in np.round(np.arange(0, 1.0, 0.1), 1)} if len(scores) else {},
        "worst": [{"key": k, "score": e["score"], "flags": e["flags"]} for k, e in worst if e["flags"]],
        "records_per_s": round(len(checked) / check_s, 1) if check_s > 0 and checked else None,
        "seconds": round(time.perf_counter() - t0, 3), "stage_version": STAGE_VERSION,
    }
    if before_stats:
        before_stats(summary)
    write_json_atomic(out / "stats.json", summary)
    return summary

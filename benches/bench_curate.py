"""Benchmark: ``medharvest curate run`` on the sample dataset -- records/s end to end.

Generates the sample dataset (``medharvest sample``, default 400 items) into a temp dir unless
``--sample DIR`` is given, runs ``curate run`` (2 workers, OCR + redaction + labels on), and
prints records/s, the per-stage seconds (decode / OCR / store summed over workers; text in the
main process) and the 1-minute load average (the numbers are only comparable at similar load).
A second run on the same output shows the resume cost (everything reused).

Usage: ``uv run python benches/bench_curate.py [--sample DIR] [--no-ocr]``;
``--dedup N`` times only the near-duplicate grouping of N synthetic hashes (scaling check).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from curation.pipeline import CurateConfig, curate_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=Path)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--no-ocr", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dedup", type=int, metavar="N", help="only time near-duplicate grouping of N synthetic hashes")
    args = ap.parse_args()
    if args.dedup:
        bench_dedup(args.dedup)
        return
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        sample = args.sample
        if sample is None:
            sample = tmp / "sample"
            subprocess.run([sys.executable, "-m", "medharvest", "sample", "--out", str(sample), "--n", str(args.n), "-q"],
                           check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        cfg = CurateConfig(ocr=not args.no_ocr, workers=args.workers)
        t0 = time.perf_counter()
        s = curate_run(cfg, [sample], tmp / "out")
        wall = time.perf_counter() - t0
        t1 = time.perf_counter()
        s2 = curate_run(cfg, [sample], tmp / "out")
        rerun = time.perf_counter() - t1
        quality = score_against_truth(sample, tmp / "out")
        print(json.dumps({
            "records": s["records"], "status": s["status"], "wall_s": round(wall, 2), "records_per_s": round(s["records"] / wall, 3),
            "stage_seconds": s["stage_seconds"], "dup_groups": s["dup_groups"], "quality_flags": s["quality_flags"],
            "rerun_s": round(rerun, 2), "rerun_reused": s2["reused"], "workers": args.workers, "ocr": cfg.ocr,
            "loadavg_1m": round(os.getloadavg()[0], 1), **quality,
        }))


def bench_dedup(n: int) -> None:
    """Near-duplicate grouping of ``n`` random 64/256-bit hashes with 1% planted near copies."""
    import random

    from curation.dedup import group_duplicates

    rng = random.Random(0)

    def flip(h: int, bits: int, k: int) -> int:
        for b in rng.sample(range(bits), k):
            h ^= 1 << b
        return h

    coarse = [rng.getrandbits(64) for _ in range(n)]
    fine = [rng.getrandbits(256) for _ in range(n)]
    planted = n // 100
    for i in range(planted):
        coarse.append(flip(coarse[i], 64, rng.randint(0, 6)))
        fine.append(flip(fine[i], 256, rng.randint(0, 10)))
    keys = [f"k{i}" for i in range(len(coarse))]
    t0 = time.perf_counter()
    groups, _ = group_duplicates(keys, [None] * len(keys), [f"{h:016x}" for h in coarse], threshold=6,
                                 fine=[f"{h:064x}" for h in fine], fine_threshold=10)
    dt = time.perf_counter() - t0
    found = sum(groups.get(f"k{i}") is not None and groups.get(f"k{i}") == groups.get(f"k{n + i}") for i in range(planted))
    print(json.dumps({"dedup_hashes": len(keys), "seconds": round(dt, 2), "hashes_per_s": round(len(keys) / dt),
                      "planted_pairs": planted, "planted_found": found, "loadavg_1m": round(os.getloadavg()[0], 1)}))


def score_against_truth(sample: Path, out: Path) -> dict:
    """Burned-in identifier box recall (phi_flags vs planted boxes), text identifiers left in the
    manifest text, and planted duplicates found (same dup_group)."""
    from curation.ocr.score import score_image, totals
    from manifests.io import read_manifest

    gt_path = sample / "raw" / "sample" / "ground_truth.jsonl"
    if not gt_path.exists():
        return {}
    gts = {g["source_id"]: g for g in map(json.loads, gt_path.read_text().splitlines())}
    rows = {r["source_id"]: r for r in read_manifest(out).to_pylist() if r["source"] == "sample"}
    counts, left, total_ids, dups_found, dups = [], 0, 0, 0, 0
    for sid, g in gts.items():
        r = rows.get(sid)
        if r is None or r["status"] != "ok":
            continue
        if g["burned_in"] or any(f["where"] == "image" for f in r["phi_flags"]):
            pred = [f for f in r["phi_flags"] if f["where"] == "image"]
            counts.append(score_image(pred, g["burned_in"], (r["height"], r["width"])))
        for ident in g.get("text_identifiers", []):
            total_ids += 1
            left += ident["text"] in (r["text"] or "")
        other = g.get("dup_of") or g.get("near_dup_of")
        if other:
            dups += 1
            dups_found += r["dup_group"] is not None and r["dup_group"] == rows[other]["dup_group"]
    t = totals(counts)
    return {"burned_in_recall": t["recall"], "burned_in_precision": t["precision"], "burned_in_boxes": t["gt_boxes"],
            "text_identifiers": total_ids, "text_identifiers_left": left, "planted_duplicates": dups,
            "planted_duplicates_grouped": dups_found}


if __name__ == "__main__":
    main()

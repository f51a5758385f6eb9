"""Benchmark: ``manifests.ops.export`` -- rows/s and output size per format.

Builds a manifest of ``--n`` records (default 2000) with ``--size``-pixel PNGs (default 256) in a
temp dir, exports it in every registered format and prints, per format, seconds, rows/s, output
MiB and peak RSS growth. The 1-minute load average is printed too (numbers are only comparable
at similar load).

Usage: ``uv run python benches/bench_export.py [--n 2000] [--size 256] [--formats hf,webdataset]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from manifests.io import read_manifest, write_manifest  # noqa: E402
from manifests.labels import NIH15  # noqa: E402
from manifests.ops.export import ExportContext, export, formats  # noqa: E402
from manifests.schema import from_records, labels_list  # noqa: E402

OUT_NAMES = {"csv": "m.csv", "jsonl": "m.jsonl", "parquet": "m.parquet", "monai": "datalist.json", "coco": "coco.json"}


def build(root: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    recs = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(buf, format="PNG")
        rel = f"images/{i:06d}.png"
        (root / rel).write_bytes(buf.getvalue())
        f = NIH15[i % len(NIH15)]
        recs.append({"key": f"bench:{i}", "source": "bench", "source_id": str(i), "image_path": rel,
                     "image_sha256": hashlib.sha256(buf.getvalue()).hexdigest(), "width": size, "height": size,
                     "patient_id": f"P{i // 3}", "split": ("train", "train", "val", "test")[i % 4],
                     "text": f"report {i}: findings consistent with {f}.", "text_kind": "report", "license": "CC0",
                     "labels": labels_list({x: "positive" if x == f else "negative" for x in NIH15}, "dataset"),
                     "boxes": [{"label": f, "x": 1.0, "y": 2.0, "w": 30.0, "h": 40.0, "label_source": "dataset",
                                "annotator": None}] if i % 10 == 0 else []})
    return write_manifest(from_records(recs), root / "manifest.parquet")


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--formats", default=",".join(sorted(formats())))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        manifest = build(tmp / "m", args.n, args.size)
        table = read_manifest(manifest)
        print(f"built {args.n} rows of {args.size}px PNG in {time.perf_counter() - t0:.1f}s; "
              f"images {du(tmp / 'm' / 'images') / 2**20:.1f} MiB; load {os.getloadavg()[0]:.2f}")
        print(f"{'format':<11} {'s':>7} {'rows/s':>9} {'MiB':>8} {'rss+MiB':>8}")
        for fmt in args.formats.split(","):
            out = tmp / "out" / OUT_NAMES.get(fmt, fmt)
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t = time.perf_counter()
            summary = export(table, out, fmt, ctx=ExportContext(images_root=manifest.parent, name="bench"))
            dt = time.perf_counter() - t
            rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
            print(f"{fmt:<11} {dt:>7.2f} {summary['rows'] / dt:>9.0f} {du(out) / 2**20:>8.1f} {rss:>8.0f}")


if __name__ == "__main__":
    main()

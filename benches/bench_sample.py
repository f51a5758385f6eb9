"""Benchmark: generation speed of the embedded sample dataset (``medharvest sample``).

    uv run python benches/bench_sample.py [--n 400] [--size 256]

Prints images/s and seconds for a fresh store in a temporary directory (target: 400 images at
256 px in well under 30 s on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from crawlers.sample.generator import SampleConfig, generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        import pydicom  # noqa: F401 - import cost is not generation cost

        start, cpu = time.perf_counter(), time.process_time()
        summary = generate(SampleConfig(n=args.n, size=args.size, seed=args.seed), tmp)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"sample n={args.n} size={args.size}: {seconds:.2f} s wall, {cpu:.2f} s CPU, "
          f"{summary['items'] / seconds:.1f} images/s (wall), {summary['items'] / cpu:.1f} images/s (CPU) "
          f"(dicom {summary['dicom']}, burned-in {summary['burned_in']}, "
          f"duplicates {summary['exact_duplicates'] + summary['near_duplicates']})")


if __name__ == "__main__":
    main()

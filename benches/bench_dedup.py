"""Near-duplicate search speed: ``curation.dedup.near_pairs`` on random 64-bit hashes.

Random hashes plus planted near-duplicate clusters (each cluster: a seed hash and 2-5 copies
with 0-6 bits flipped), threshold 6 (the curate default). Prints seconds and pair counts for the
vectorised search, and the old pure-Python multi-index search where it is cheap (100k; 1M with
``--old-1m``, about 8 minutes). Also checks both return the same pairs where both ran.

    uv run python benches/bench_dedup.py [--sizes 100000 1000000] [--old-1m]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.dedup import near_pairs, near_pairs_python, plan_blocks  # noqa: E402


def make_hashes(n: int, seed: int = 0) -> list[int]:
    """``n`` hashes: ~5% in planted near-duplicate clusters, the rest uniform random."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    i = 0
    n_planted = n // 20
    while i < n_planted:
        size = int(rng.integers(2, 6))
        seed_hash = h[i]
        for j in range(i + 1, min(i + size, n_planted)):
            flips = rng.choice(64, size=int(rng.integers(0, 7)), replace=False)
            v = seed_hash
            for b in flips:
                v ^= np.uint64(1) << np.uint64(b)
            h[j] = v
        i += size
    rng.shuffle(h)
    return [int(x) for x in h]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--threshold", type=int, default=6)
    ap.add_argument("--old-1m", action="store_true", help="also time the pure-Python search above 200k hashes")
    args = ap.parse_args()
    print(f"numpy {np.__version__}, threshold {args.threshold}")
    for n in args.sizes:
        hashes = make_hashes(n)
        t0 = time.perf_counter()
        new = near_pairs(hashes, args.threshold)
        t_new = time.perf_counter() - t0
        plan = plan_blocks(n, args.threshold)
        line = f"n={n:>9,}  new {t_new:7.2f} s  pairs={len(new):,}  blocks={[(w, r) for _, w, r in plan]}"
        if n <= 200_000 or args.old_1m:
            t0 = time.perf_counter()
            old = near_pairs_python(hashes, args.threshold)
            t_old = time.perf_counter() - t0
            line += f"  | old {t_old:7.2f} s  same={old == new}  speed-up x{t_old / t_new:.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()

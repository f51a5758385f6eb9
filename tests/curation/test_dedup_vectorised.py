"""Vectorised near-duplicate search: exactly the brute-force O(n^2) pairs, on random and adversarial hashes."""

from __future__ import annotations

import random

import numpy as np
import pytest

from curation.dedup import group_duplicates, near_pairs, near_pairs_python, plan_blocks


def brute(hashes: list[int], threshold: int) -> list[tuple[int, int]]:
    a = np.array(hashes, dtype=np.uint64)
    out: list[tuple[int, int]] = []
    for i in range(len(a) - 1):
        d = np.bitwise_count(a[i] ^ a[i + 1:]) if hasattr(np, "bitwise_count") else \
            np.array([bin(int(v)).count("1") for v in a[i] ^ a[i + 1:]])
        out.extend((i, i + 1 + int(j)) for j in np.flatnonzero(d <= threshold))
    return out


def planted(n: int, seed: int, *, max_flips: int = 12) -> list[int]:
    """``n`` random hashes, then near copies (0..max_flips bits flipped), exact copies, and a bucket
    of hashes that share their low 48 bits (one huge equal-block bucket for three of four blocks)."""
    rng = random.Random(seed)
    hs = [rng.getrandbits(64) for _ in range(n)]
    for _ in range(n // 3):
        h = hs[rng.randrange(len(hs))]
        for b in rng.sample(range(64), rng.randint(0, max_flips)):
            h ^= 1 << b
        hs.append(h)
    hs += hs[: n // 20]                                                   # exact duplicates
    base = rng.getrandbits(48)
    hs += [(rng.getrandbits(16) << 48) | base for _ in range(n // 5)]    # equal low 48 bits
    rng.shuffle(hs)
    return hs


@pytest.mark.parametrize("threshold", [0, 1, 2, 4, 6, 9])
def test_equals_brute_force_on_thousands_of_hashes(threshold):
    hs = planted(2500, seed=threshold)
    ref = brute(hs, threshold)
    assert near_pairs(hs, threshold) == ref
    assert len(ref) >= 2500 // 20   # the planted pairs are there (exact copies at least)


@pytest.mark.parametrize("blocks", [1, 2, 3, 4, 5, 8])
def test_any_block_count_is_exact(blocks):
    hs = planted(600, seed=100 + blocks)
    for threshold in (0, 3, 6):
        if (blocks == 1 and threshold > 0) or (blocks == 2 and threshold > 3):
            continue   # one or two blocks: C(64, t) / C(32, t/2) masks, exact but slow
        assert near_pairs(hs, threshold, blocks=blocks) == brute(hs, threshold), (blocks, threshold)


def test_edge_cases():
    assert near_pairs([], 6) == [] and near_pairs([5], 6) == []
    assert near_pairs([7, 7, 7], 0) == [(0, 1), (0, 2), (1, 2)]
    top = (1 << 64) - 1
    assert near_pairs([top, top ^ 1, 0], 1) == [(0, 1)]            # top bit set: uint64, no sign trouble
    assert near_pairs([top, 0], 64) == [(0, 1)] and near_pairs([top, 0], 63) == []
    with pytest.raises(ValueError):
        near_pairs([1, 2], -1)
    # all hashes in one bucket for every block (identical values): every pair, each once
    same = [123456789] * 300
    assert near_pairs(same, 6) == [(i, j) for i in range(300) for j in range(i + 1, 300)]


def test_same_as_the_pure_python_search_and_wide_hashes():
    hs = planted(800, seed=7)
    assert near_pairs(hs, 6) == near_pairs_python(hs, 6)
    rng = random.Random(3)
    wide = [rng.getrandbits(256) for _ in range(50)]
    wide.append(wide[0] ^ 0b1011)
    assert near_pairs(wide, 10, nbits=256) == [(0, 50)]


def test_block_plans_satisfy_the_pigeonhole_bound():
    for n in (10, 10_000, 1_000_000):
        for t in range(0, 12):
            plan = plan_blocks(n, t)
            assert sum(w for _, w, _ in plan) == 64
            assert sum(r + 1 for _, _, r in plan) > t
            assert [s for s, _, _ in plan] == [sum(w for _, w, _ in plan[:k]) for k in range(len(plan))]


def test_group_duplicates_on_planted_clusters():
    rng = random.Random(11)
    coarse = [rng.getrandbits(64) for _ in range(3000)]
    for i in range(100):
        h = coarse[i]
        for b in rng.sample(range(64), 4):
            h ^= 1 << b
        coarse.append(h)
    keys = [f"k{i}" for i in range(len(coarse))]
    groups, flags = group_duplicates(keys, [None] * len(keys), [f"{h:016x}" for h in coarse], threshold=6)
    assert all(groups[f"k{i}"] == groups[f"k{3000 + i}"] for i in range(100))
    assert set(flags.values()) == {"near_duplicate"}

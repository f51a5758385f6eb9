"""Exact and near-duplicate grouping: multi-index search equals brute force; groups and flags."""

from __future__ import annotations

import random
from itertools import combinations

import numpy as np
import pytest

from curation.dedup import group_duplicates, hamming, near_pairs


@pytest.mark.parametrize("threshold", [0, 3, 6, 10])
def test_multi_index_search_finds_exactly_the_brute_force_pairs(threshold):
    rng = random.Random(threshold)
    hashes = [rng.getrandbits(64) for _ in range(300)]
    for i in range(60):  # plant neighbours at distances 0..12
        h = hashes[i]
        for b in rng.sample(range(64), rng.randint(0, 12)):
            h ^= 1 << b
        hashes.append(h)
    hashes = list(dict.fromkeys(hashes))
    brute = sorted((i, j) for i, j in combinations(range(len(hashes)), 2) if hamming(hashes[i], hashes[j]) <= threshold)
    assert near_pairs(hashes, threshold) == brute
    assert threshold == 0 or brute  # the planted pairs exist


def test_groups_exact_and_near_duplicates_with_flags():
    keys = ["s:a", "s:b", "t:c", "t:d", "u:e"]
    shas = ["x1", "x1", "x2", "x3", "x4"]
    ph = ["ffff0000ffff0000", "ffff0000ffff0000", "ffff0000ffff0003", "0123456789abcdef", None]
    groups, flags = group_duplicates(keys, shas, ph, threshold=6)
    assert groups["s:a"] == groups["s:b"] == groups["t:c"]  # across sources
    assert "t:d" not in groups and "u:e" not in groups
    assert flags == {"s:a": "exact_duplicate", "s:b": "exact_duplicate", "t:c": "near_duplicate"}
    assert groups["s:a"].startswith("dup-")
    # stable: the id does not depend on input order
    g2, _ = group_duplicates(keys[::-1], shas[::-1], ph[::-1], threshold=6)
    assert g2["s:a"] == groups["s:a"]
    g3, _ = group_duplicates(keys, shas, ph, threshold=1)
    assert "t:c" not in g3 and g3["s:a"] == g3["s:b"]


def test_near_duplicates_of_real_images(shared):
    from PIL import Image

    from curation.images.store import phash_hex

    files = sorted(shared("data", "nih_cxr14_64px", "NIH1000").rglob("*.png"))[:40]
    imgs = [np.asarray(Image.open(f).convert("L")) for f in files]
    brighter = np.clip(imgs[0].astype(int) + 6, 0, 255).astype(np.uint8)
    keys = [f.name for f in files] + ["brighter"]
    hashes = [phash_hex(i) for i in imgs] + [phash_hex(brighter)]
    groups, flags = group_duplicates(keys, [str(i) for i in range(len(keys))], hashes, threshold=6)
    assert groups.get("brighter") == groups.get(files[0].name) is not None
    assert flags["brighter"] == "near_duplicate"

"""Exact and near-duplicate grouping of images across sources.

* exact: records with the same ``image_sha256`` (identical normalised pixels -> identical PNG
  bytes -> one file in the store);
* near: perceptual hashes (64-bit pHash) within ``threshold`` bits (Hamming distance).

Near-duplicate search uses multi-index hashing, so it does not compare every pair: the 64 bits
are cut into ``m`` blocks; by the pigeonhole principle two hashes within distance ``t`` agree on
at least one block up to ``t // m`` bits, so each hash is compared only with hashes found in the
buckets of its blocks' near variants. Groups are the connected components (union-find) of the
"within threshold" relation, so a group may chain (A~B, B~C) -- what a split needs: no member of
a group on both sides. Group ids are stable: ``dup-`` + the smallest key of the group, hashed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _variants(value: int, bits: int, radius: int) -> list[int]:
    out = [value]
    for r in range(1, radius + 1):
        for flip in combinations(range(bits), r):
            v = value
            for b in flip:
                v ^= 1 << b
            out.append(v)
    return out


def near_pairs(hashes: Sequence[int], threshold: int, *, blocks: int = 4, nbits: int = 64) -> list[tuple[int, int]]:
    """Index pairs (i < j) of distinct hash values within ``threshold`` bits (multi-index hashing)."""
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    blocks = max(1, min(blocks, nbits))
    width = nbits // blocks
    radius = threshold // blocks
    masks = [((1 << width) - 1) << (k * width) for k in range(blocks)]
    tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(blocks)]
    for i, h in enumerate(hashes):
        for k in range(blocks):
            tables[k][(h & masks[k]) >> (k * width)].append(i)
    pairs: set[tuple[int, int]] = set()
    for i, h in enumerate(hashes):
        for k in range(blocks):
            chunk = (h & masks[k]) >> (k * width)
            for v in _variants(chunk, width, radius):
                for j in tables[k].get(v, ()):
                    if j > i and (i, j) not in pairs and hamming(h, hashes[j]) <= threshold:
                        pairs.add((i, j))
    return sorted(pairs)


def _gid(members: list[str]) -> str:
    return "dup-" + hashlib.sha256(min(members).encode()).hexdigest()[:12]


def group_duplicates(
    keys: Sequence[str], sha256s: Sequence[str | None], phashes: Sequence[str | None], *, threshold: int = 6,
    fine: Sequence[str | None] | None = None, fine_threshold: int = 10,
) -> tuple[dict[str, str], dict[str, str]]:
    """``({key: dup_group}, {key: flag})`` for records that have at least one duplicate.

    ``flag`` is ``exact_duplicate`` (same sha256 as another record) or ``near_duplicate``.
    Records without duplicates are absent from both dicts (their ``dup_group`` stays null).

    ``fine``: optional finer perceptual hashes (e.g. 256-bit pHash, hex) used to confirm each
    64-bit candidate pair (distance <= ``fine_threshold``). Images of one kind (chest
    radiographs) crowd the 64-bit space -- unrelated radiographs are often 4-6 bits apart --
    so the 64-bit hash finds candidates fast and the fine hash decides.
    """
    n = len(keys)
    uf = _UnionFind(n)
    by_sha: dict[str, int] = {}
    exact: set[int] = set()
    for i, s in enumerate(sha256s):
        if not s:
            continue
        if s in by_sha:
            uf.union(by_sha[s], i)
            exact.update((by_sha[s], i))
        else:
            by_sha[s] = i
    fine_int = [int(f, 16) if f else None for f in fine] if fine is not None else None

    def confirm(i: int, j: int) -> bool:
        if fine_int is None:
            return True
        a, b = fine_int[i], fine_int[j]
        return a is not None and b is not None and hamming(a, b) <= fine_threshold

    # one representative per exact image, then buckets of equal 64-bit hashes
    by_hash: dict[int, list[int]] = defaultdict(list)
    for s_idx in set(by_sha.values()) | {i for i, s in enumerate(sha256s) if not s}:
        if phashes[s_idx]:
            by_hash[int(phashes[s_idx], 16)].append(s_idx)
    for members_ in by_hash.values():
        for a, b in combinations(members_, 2):
            if confirm(a, b):
                uf.union(a, b)
    values = list(by_hash)
    for a, b in near_pairs(values, threshold):
        for i in by_hash[values[a]]:
            for j in by_hash[values[b]]:
                if confirm(i, j):
                    uf.union(i, j)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        members[uf.find(i)].append(i)
    groups: dict[str, str] = {}
    flags: dict[str, str] = {}
    for idx in members.values():
        if len(idx) < 2:
            continue
        gid = _gid([keys[i] for i in idx])
        for i in idx:
            groups[keys[i]] = gid
            flags[keys[i]] = "exact_duplicate" if i in exact else "near_duplicate"
    return groups, flags

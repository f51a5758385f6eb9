"""Exact and near-duplicate grouping of images across sources.

* exact: records with the same ``image_sha256`` (identical normalised pixels -> identical PNG
  bytes -> one file in the store);
* near: perceptual hashes (64-bit pHash) within ``threshold`` bits (Hamming distance).

Near-duplicate search uses multi-index hashing, so it does not compare every pair: the 64 bits
are cut into ``m`` blocks with radii ``r_k`` (``sum(r_k + 1) > t``); by the pigeonhole principle
two hashes within distance ``t`` are within ``r_k`` bits on at least one block, so only hashes
sharing a block (with ``r_k`` of its bits masked) are compared -- in bulk with numpy
(:func:`near_pairs`: 1M hashes in ~10 s on 2 loaded cores, the old per-pair Python search,
kept as :func:`near_pairs_python`, took ~485 s). Groups are the connected components (union-find) of the
"within threshold" relation, so a group may chain (A~B, B~C) -- what a split needs: no member of
a group on both sides. Group ids are stable: ``dup-`` + the smallest key of the group, hashed.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from itertools import combinations

import numpy as np


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


def near_pairs_python(hashes: Sequence[int], threshold: int, *, blocks: int = 4, nbits: int = 64) -> list[tuple[int, int]]:
    """Index pairs (i < j) within ``threshold`` bits: pure-Python multi-index hashing (any ``nbits``).

    Per-pair Python loops: kept for hashes wider than 64 bits and as the benchmark's baseline.
    """
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


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):   # numpy >= 2.0
        return np.bitwise_count(x)
    table = np.array([i.bit_count() for i in range(1 << 16)], np.uint8)
    out = np.zeros(x.shape, np.uint8)
    for k in range(0, 64, 16):
        out += table[((x >> np.uint64(k)) & np.uint64(0xFFFF)).astype(np.intp)]
    return out


def plan_blocks(n: int, threshold: int, nbits: int = 64, blocks: int | None = None) -> list[tuple[int, int, int]]:
    """``[(shift, width, radius), ...]``: the hash cut into blocks, each searched up to ``radius`` bits.

    Generalised pigeonhole: if ``sum(radius + 1) > threshold``, two hashes within ``threshold``
    bits are within ``radius`` bits on at least one block. ``blocks=None`` picks the block count
    with the lowest estimated cost for ``n`` uniformly spread hashes (one sort per masked bit
    subset plus the pairs sharing a masked block).
    """
    def layout(m: int) -> list[tuple[int, int, int]]:
        widths = [nbits // m + (1 if k < nbits % m else 0) for k in range(m)]
        spare = max(0, threshold - m + 1)          # sum of radii needed
        radii = [spare // m + (1 if k < spare % m else 0) for k in range(m)]
        out, shift = [], 0
        for w, r in zip(widths, radii):
            out.append((shift, w, min(r, w)))
            shift += w
        return out

    def cost(plan: list[tuple[int, int, int]]) -> float:
        total = 0.0
        for _, w, r in plan:
            pairs = min(n * n / 2.0, n * n / 2.0 / 2.0 ** (w - r))
            total += math.comb(w, r) * (30.0 * n + pairs)
        return total

    if blocks is not None:
        return layout(max(1, min(blocks, nbits)))
    return min((layout(m) for m in range(1, min(nbits, threshold + 1) + 1)), key=cost)


def _same_key_pairs(key: np.ndarray, h: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, int, np.ndarray]]:
    """All pairs of equal ``key``, one lag at a time (no per-pair Python loop).

    Yields ``(order, pos, lag, x)``: sorted positions ``pos`` and ``pos + lag`` (original indices
    ``order[...]``) have equal keys; ``x`` is their hashes' XOR. Work is O(n + pairs): each lag
    keeps only the positions whose group is still long enough.
    """
    n = key.size
    order = np.argsort(key, kind="stable")           # radix sort for keys of 16 bits or less
    ks = key[order]
    hs = h[order]
    new = np.empty(n, bool)
    new[:1] = True
    np.not_equal(ks[1:], ks[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    end = np.repeat(ends, ends - starts)             # end of each sorted position's group
    pos = np.flatnonzero(end - np.arange(n) > 1)     # positions in groups of two or more
    lag = 1
    while pos.size:
        yield order, pos, lag, hs[pos] ^ hs[pos + lag]
        lag += 1
        pos = pos[end[pos] - pos > lag]


def near_pairs(hashes: Sequence[int], threshold: int, *, blocks: int | None = None, nbits: int = 64) -> list[tuple[int, int]]:
    """Index pairs (i < j) of hashes within ``threshold`` bits (Hamming), exactly the brute-force set.

    Vectorised multi-index hashing (numpy): for every block and every subset of ``radius`` bits
    in it, hashes are grouped by the block with those bits masked; pairs in a group are checked
    in bulk (popcount of XOR). A pair is kept only in the first block where it is within radius
    and under its first masking subset, so no pair is emitted twice.
    """
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    if nbits > 64:
        return near_pairs_python(hashes, threshold, blocks=blocks or 4, nbits=nbits)
    h = np.fromiter((int(x) for x in hashes), dtype=np.uint64, count=len(hashes))
    if h.size < 2:
        return []
    plan = plan_blocks(h.size, threshold, nbits, blocks)
    found: list[np.ndarray] = []
    t = np.uint8(min(threshold, 255))
    for k, (shift, width, radius) in enumerate(plan):
        full = np.uint64((1 << width) - 1)
        block = (h >> np.uint64(shift)) & full
        key_type = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= width)
        for bits in combinations(range(width), radius):
            masked = np.uint64(sum(1 << b for b in bits))
            key = (block & ~masked & full).astype(key_type)
            for order, pos, lag, x in _same_key_pairs(key, h):
                ok = _popcount(x) <= t
                if not ok.any():
                    continue
                pos, x = pos[ok], x[ok]
                a, b = order[pos], order[pos + lag]
                ok = _first_block(x, plan, k) & _first_subset((x >> np.uint64(shift)) & full, bits, width)
                if ok.any():
                    a, b = a[ok], b[ok]
                    found.append(np.minimum(a, b).astype(np.int64) * h.size + np.maximum(a, b))
    if not found:
        return []
    codes = np.sort(np.concatenate(found))
    return list(zip((codes // h.size).tolist(), (codes % h.size).tolist()))


def _first_block(x: np.ndarray, plan: list[tuple[int, int, int]], k: int) -> np.ndarray:
    """True where no block before ``k`` has the pair within its radius (so block ``k`` reports it)."""
    ok = np.ones(x.size, bool)
    for shift, width, radius in plan[:k]:
        d = _popcount((x >> np.uint64(shift)) & np.uint64((1 << width) - 1))
        ok &= d > radius
    return ok


def _first_subset(diff: np.ndarray, bits: tuple[int, ...], width: int) -> np.ndarray:
    """True where ``bits`` is the first (lexicographic) ``len(bits)``-subset holding the pair's differing bits."""
    if not bits:
        return np.ones(diff.size, bool)
    masked = sum(1 << b for b in bits)
    # canonical subset: the differing bits plus the lowest agreeing bits. ``bits`` is canonical iff
    # no agreeing bit below the highest masked-but-agreeing bit is left unmasked.
    agree_masked = np.uint64(masked) & ~diff
    ok = agree_masked == 0
    todo = np.flatnonzero(~ok)
    if todo.size:
        top = np.full(todo.size, -1, np.int64)        # highest masked bit where the pair agrees
        for b in sorted(bits, reverse=True):
            hit = (top < 0) & (((agree_masked[todo] >> np.uint64(b)) & np.uint64(1)) == 1)
            top[hit] = b
        below = (np.uint64(1) << top.astype(np.uint64)) - np.uint64(1)
        ok[todo] = (below & ~diff[todo] & ~np.uint64(masked)) == 0
    return ok


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

"""Patient-grouped, label-stratified, seeded train/val/test split.

How a split is made (all columnar: pyarrow + numpy, no loop over rows or groups):

1. **Group of a row**: ``group_key`` (default ``patient_id``); a row where it is null/empty falls
   back to ``study_id`` and then to ``key`` (counted and reported). The three namespaces are kept
   apart (``p|…``, ``s|…``, ``k|…``) so a study id never collides with a patient id.
2. **Components**: groups linked by a near-duplicate group (``dup_group``) are merged with a
   vectorised union-find (min-label propagation with pointer jumping), so near-duplicates never
   straddle splits either.
3. **Fixed components**: a component holding a synthetic row goes to train; with
   ``keep_official`` a component holding rows of an official val/test split keeps it (test > val >
   train when its rows disagree; counted as ``official_conflicts``), and an official-train
   component stays out of test but may be drawn into val (ChestX-ray14 and CheXpert publish one
   train+val pool and a test list: the usual protocol keeps the test list and splits the pool).
4. **Stratification**: each component's stratum is its rarest positive finding (rarity counted in
   components); components of a stratum are shuffled with the seed and cut by cumulative row count
   at the ratios (after subtracting what the fixed components already hold), starting at a seeded
   offset on the circle so a stratum of one or two components is not always train.
5. **Proof**: the split is assigned per component and broadcast to rows, so a group cannot span two
   splits by construction; :func:`check_grouping` verifies it anyway before anything is written and
   raises :class:`~manifests.errors.StageError` if it ever failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.columnar import LabelCodes, label_codes, present_pairs, read_full, write_full
from manifests.errors import StageError, UsageError
from manifests.io import MANIFEST_NAME, manifest_parts, rebase_image_paths, resolve_manifest
from manifests.registry import lookup
from manifests.schema import COLUMNS, SPLITS

TRAIN, VAL, TEST = 0, 1, 2
_PRIORITY = {"train": TRAIN, "val": VAL, "test": TEST}


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 0
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    group_key: str = "patient_id"
    stratify: bool = True
    keep_official: bool = False

    def __post_init__(self):
        lookup({c: c for c in COLUMNS}, self.group_key, "group key column")
        r = tuple(float(x) for x in self.ratios)
        if len(r) != 3 or any(x < 0 for x in r) or abs(sum(r) - 1.0) > 1e-6:
            raise UsageError(f"ratios {self.ratios} must be three non-negative numbers summing to 1 (train,val,test)")
        object.__setattr__(self, "ratios", r)

    def as_meta(self) -> dict:
        return {"seed": self.seed, "ratios": list(self.ratios), "group_key": self.group_key,
                "stratify": self.stratify, "keep_official": self.keep_official,
                "fallback": ["study_id", "key"], "dup_group": True}


def _blank(arr) -> pa.Array:
    arr = arr.cast(pa.string())
    return pc.or_kleene(pc.is_null(arr), pc.equal(arr, ""))


def group_column(table: pa.Table, group_key: str = "patient_id") -> tuple[pa.Array, dict[str, int]]:
    """Per-row group id string with the fallback chain; returns (groups, rows per fallback level)."""
    chain = [group_key] + [c for c in ("study_id", "key") if c != group_key]
    out = None
    counts: dict[str, int] = {}
    taken = pa.array(np.zeros(table.num_rows, dtype=bool))
    for i, col in enumerate(chain):
        vals = table[col].combine_chunks().cast(pa.string())
        usable = pc.invert(_blank(vals))
        new = pc.and_(usable, pc.invert(taken))
        counts[col] = int(pc.sum(new).as_py() or 0)
        tagged = pc.binary_join_element_wise(f"{'psk'[min(i, 2)]}{i}", vals, "|")
        out = tagged if out is None else pc.if_else(new, tagged, out)
        taken = pc.or_(taken, new)
    # rows with no key at all (invalid manifests): their own group each
    rest = pc.invert(taken)
    if pc.any(rest).as_py():
        idx = pc.cast(pa.array(np.arange(table.num_rows)), pa.string())
        out = pc.if_else(rest, pc.binary_join_element_wise("r", idx, "|"), out)
        counts["row"] = int(pc.sum(rest).as_py())
    return out, counts


def _codes(values: pa.Array) -> tuple[np.ndarray, int]:
    """Dense int codes of ``values`` in sorted order of the distinct values (row-order independent)."""
    uniq = pc.unique(values)
    uniq = pc.take(uniq, pc.sort_indices(uniq))
    return pc.index_in(values, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64), len(uniq)


def connected_components(n_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Component label (the smallest node id of the component) of each node; edges ``u[i]–v[i]``."""
    label = np.arange(n_nodes, dtype=np.int64)
    if len(u) == 0:
        return label
    while True:
        m = np.minimum(label[u], label[v])
        before = label.copy()
        np.minimum.at(label, u, m)
        np.minimum.at(label, v, m)
        while True:  # pointer jumping: label <- label[label] until stable
            nxt = label[label]
            if np.array_equal(nxt, label):
                break
            label = nxt
        if np.array_equal(label, before):
            return label


#: Columns :func:`assign_codes` reads (plus the group key).
SPLIT_COLUMNS = ("key", "patient_id", "study_id", "dup_group", "synthetic", "split", "labels")


def assign(table: pa.Table, cfg: SplitConfig) -> tuple[pa.Table, dict]:
    """Return ``table`` with its ``split`` column assigned, and a summary dict."""
    codes, summary = assign_codes(table, cfg)
    col = pc.take(pa.array(list(SPLITS)), pa.array(codes))
    return table.set_column(table.schema.get_field_index("split"), "split", col), summary


def split_file(src, dst, cfg: SplitConfig) -> tuple[Path, dict]:
    """Split the manifest ``src`` into a new manifest ``dst`` (file or directory): the seed, group key
    and ratios go into its metadata, ``image_path`` is rebased onto ``dst``'s directory.
    Returns (path, summary with ``split_labels``)."""
    src = resolve_manifest(src)
    dst = Path(dst)
    dst = dst if dst.suffix == ".parquet" else dst / MANIFEST_NAME
    table = read_full(src)
    lc = label_codes(table["labels"])
    codes, summary = assign_codes(table, cfg, lc)
    summary["split_labels"] = split_label_counts(codes, lc)
    col = pc.take(pa.array(list(SPLITS)), pa.array(codes))
    table = table.set_column(table.schema.get_field_index("split"), "split", col)
    table = rebase_image_paths(table, src.parent, dst.parent)
    parts = manifest_parts(src)  # the layout follows the input: parts in, parts of the same size out
    part_rows = max(pq.ParquetFile(q).metadata.num_rows for q in parts) if src.is_dir() else None
    return write_full(table, dst, meta={"split": cfg.as_meta()}, part_rows=part_rows), summary


def split_label_counts(row_split: np.ndarray, codes: LabelCodes) -> dict[str, dict[str, int]]:
    """{split: {finding: rows with a positive label}}."""
    pos = codes.state == codes.code("state", "positive")
    rows, f = codes.rows_of(pos), codes.finding[pos].astype(np.int64)
    keep = f >= 0
    rows, f = rows[keep], f[keep]
    n_f = len(codes.vocab["finding"])
    if not len(rows):
        return {}
    rr, ff = present_pairs(rows, f, len(row_split), n_f)
    counts = np.bincount(row_split[rr].astype(np.int64) * n_f + ff, minlength=3 * n_f).reshape(3, n_f)
    return {SPLITS[k]: {codes.vocab["finding"][i]: int(counts[k, i]) for i in np.argsort(codes.vocab["finding"])
                        if counts[k, i]} for k in range(3)}


def assign_codes(table: pa.Table, cfg: SplitConfig, labels: LabelCodes | None = None) -> tuple[np.ndarray, dict]:
    """Per-row split code (0 train, 1 val, 2 test) and a summary dict (``labels``: precomputed codes)."""
    n = table.num_rows
    rng = np.random.default_rng(cfg.seed)
    c = _components(table, cfg.group_key)
    gcode, n_groups, has_dup, dcode, comp, n_comp, size = (c.gcode, c.n_groups, c.has_dup, c.dcode, c.comp, c.n_comp,
                                                           c.size)
    fallback, linked = c.fallback, c.dup_linked

    # 3. fixed components: synthetic -> train; official splits with keep_official
    fixed = np.full(n_comp, -1, dtype=np.int64)
    conflicts = 0
    if cfg.keep_official:
        off = table["split"].combine_chunks()
        code = pc.fill_null(pc.index_in(off, value_set=pa.array(list(SPLITS))), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        hi = np.full(n_comp, -1, dtype=np.int64)
        lo = np.full(n_comp, 99, dtype=np.int64)
        m = code >= 0
        np.maximum.at(hi, comp[m], code[m])
        np.minimum.at(lo, comp[m], code[m])
        fixed = hi
        conflicts = int(((hi >= 0) & (lo != hi)).sum())
    synth = pc.fill_null(table["synthetic"].combine_chunks(), False).to_numpy(zero_copy_only=False)
    synth_comp = np.bincount(comp[synth], minlength=n_comp) > 0 if synth.any() else np.zeros(n_comp, bool)
    fixed[synth_comp] = TRAIN

    # 4. strata: rarest positive finding of each component
    stratum = _strata(table, comp, n_comp, labels) if cfg.stratify else np.zeros(n_comp, dtype=np.int64)

    # 5. cut: official-train components (keep_official) may go to val but never to test; then the rest
    restricted = np.zeros(n_comp, dtype=bool)
    if cfg.keep_official:
        restricted = (fixed == TRAIN) & ~synth_comp
        fixed[restricted] = -1
    split = fixed.copy()
    ratios = np.asarray(cfg.ratios)
    rand = rng.random(n_comp)
    offsets = rng.random(int(stratum.max()) + 1 if n_comp else 1)
    for pool, allowed in ((restricted, np.array([1.0, 1.0, 0.0])), ((fixed < 0) & ~restricted, np.ones(3))):
        idx = np.flatnonzero(pool)
        if not len(idx):
            continue
        held = np.array([size[split == k].sum() for k in range(3)])
        want = np.clip(ratios * n - held, 0, None) * allowed
        if want.sum() <= 0:
            want = ratios * allowed if (ratios * allowed).sum() > 0 else np.array([1.0, 0.0, 0.0])
        split[idx] = _cut(idx, want / want.sum(), stratum, size, rand, offsets)

    row_split = split[comp].astype(np.int8)
    check_grouping(row_split, gcode, "group")
    if has_dup.any():
        check_grouping(row_split[has_dup], dcode, "dup_group")

    rows_per = np.bincount(row_split, minlength=3)
    largest = int(size.max()) if n_comp else 0
    warnings = []
    smallest_target = min((r for r in cfg.ratios if r > 0), default=1.0) * n
    if n_comp and largest > smallest_target:
        warnings.append(f"one patient/near-duplicate component holds {largest} of {n} rows, more than the smallest "
                        f"split's target ({smallest_target:.0f}): the ratios cannot be met; check dup_group "
                        "(an over-eager near-duplicate threshold chains unrelated images)")
    g_split = np.full(n_groups, -1)
    g_split[gcode] = row_split
    summary = {
        "rows": n, "groups": n_groups, "components": n_comp,
        "rows_per_split": {SPLITS[k]: int(rows_per[k]) for k in range(3)},
        "groups_per_split": {SPLITS[k]: int((g_split == k).sum()) for k in range(3)},
        "group_fallback": fallback,
        "dup_linked_groups": linked,
        "synthetic_rows": int(synth.sum()), "official_conflicts": conflicts,
        "largest_component_rows": largest, "warnings": warnings,
        "fixed_components": int((fixed >= 0).sum()), "strata": int((np.bincount(stratum) > 0).sum()) if n_comp else 0,
        **cfg.as_meta(),
    }
    return row_split, summary


@dataclass(frozen=True)
class _Components:
    gcode: np.ndarray      # row -> group code
    n_groups: int
    has_dup: np.ndarray    # row has a dup_group
    dcode: np.ndarray      # dup_group code of the rows with one
    comp: np.ndarray       # row -> dense component id
    n_comp: int
    size: np.ndarray       # rows per component (float)
    fallback: dict
    dup_linked: int        # groups merged into another group's component


def _components(table: pa.Table, group_key: str) -> _Components:
    """Steps 1-2: groups of rows, unioned through near-duplicate groups into components."""
    n = table.num_rows
    groups, fallback = group_column(table, group_key)
    gcode, n_groups = _codes(groups)
    dup = table["dup_group"].combine_chunks()
    has_dup = pc.invert(_blank(dup)).to_numpy(zero_copy_only=False)
    dcode = np.zeros(0, dtype=np.int64)
    if has_dup.any():
        dcode, n_dup = _codes(pc.filter(dup, pa.array(has_dup)))
        label = connected_components(n_groups + n_dup, gcode[has_dup], n_groups + dcode)
        comp_label = label[:n_groups]
    else:
        comp_label = np.arange(n_groups, dtype=np.int64)
    used = np.zeros(len(comp_label), dtype=bool)
    used[comp_label] = True
    comp = (np.cumsum(used) - 1)[comp_label][gcode]  # dense component ids, in node order
    n_comp = int(comp.max()) + 1 if n else 0
    return _Components(gcode=gcode, n_groups=n_groups, has_dup=has_dup, dcode=dcode, comp=comp, n_comp=n_comp,
                       size=np.bincount(comp, minlength=n_comp).astype(np.float64), fallback=fallback,
                       dup_linked=int(n_groups - used.sum()) if n else 0)


def _strata(table: pa.Table, comp: np.ndarray, n_comp: int, labels: LabelCodes | None = None) -> np.ndarray:
    """Step 4: each component's stratum, the rank of its rarest positive finding (rarity counted in components)."""
    stratum = np.zeros(n_comp, dtype=np.int64)
    lc = labels if labels is not None else label_codes(table["labels"])
    pos = (lc.state == lc.code("state", "positive")) & (lc.finding >= 0)
    rows, fcode, n_f = lc.rows_of(pos), lc.finding[pos].astype(np.int64), len(lc.vocab["finding"])
    if len(rows):
        pc_comp, pc_f = present_pairs(comp[rows], fcode, n_comp, n_f)
        freq = np.bincount(pc_f, minlength=n_f)
        names = np.array(lc.vocab["finding"], dtype=object)
        rank = np.empty(n_f, dtype=np.int64)
        rank[np.lexsort((names, freq))] = np.arange(n_f)  # rarest first, ties by name
        stratum = np.full(n_comp, n_f, dtype=np.int64)
        np.minimum.at(stratum, pc_comp, rank[pc_f])
    return stratum


def fold_codes(table: pa.Table, folds: int, *, seed: int = 0, group_key: str = "patient_id") -> np.ndarray:
    """Per-row fold (0..folds-1) for patient-grouped, label-stratified K-fold cross-validation.

    The same components (patients joined through near-duplicate groups) and strata (rarest positive
    finding) as :func:`assign_codes`, each stratum's circle cut into ``folds`` equal shares, so every
    fold gets its share of each rare finding. Rows of a component holding a synthetic row get -1
    (train in every fold: synthetic rows are never evaluated on).
    """
    if folds < 2:
        raise UsageError(f"--folds {folds}: cross-validation needs at least 2 folds")
    c = _components(table, group_key)
    if c.n_comp < folds:
        raise UsageError(f"{c.n_comp} patient groups cannot fill {folds} folds")
    rng = np.random.default_rng(seed)
    stratum = _strata(table, c.comp, c.n_comp)
    rand = rng.random(c.n_comp)
    offsets = rng.random(int(stratum.max()) + 1 if c.n_comp else 1)
    fold = _cut(np.arange(c.n_comp), np.full(folds, 1.0 / folds), stratum, c.size, rand, offsets)
    synth = pc.fill_null(table["synthetic"].combine_chunks(), False).to_numpy(zero_copy_only=False)
    if synth.any():
        fold[np.bincount(c.comp[synth], minlength=c.n_comp) > 0] = -1
    row_fold = fold[c.comp].astype(np.int64)
    check_grouping(row_fold, c.gcode, "group")
    if c.has_dup.any():
        check_grouping(row_fold[c.has_dup], c.dcode, "dup_group")
    return row_fold


def _cut(idx: np.ndarray, share: np.ndarray, stratum: np.ndarray, size: np.ndarray, rand: np.ndarray,
         offsets: np.ndarray) -> np.ndarray:
    """Part codes (0..len(share)-1) for components ``idx``: within each stratum, in seeded random order,
    cut the circle of cumulative row counts (starting at the stratum's offset) at ``share``."""
    order = idx[np.lexsort((rand[idx], stratum[idx]))]
    s, sz = stratum[order], size[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    reps = np.diff(np.r_[starts, len(order)])
    cum = np.cumsum(sz)
    base = np.repeat(cum[starts] - sz[starts], reps)
    total = np.repeat(np.add.reduceat(sz, starts), reps)
    pos = ((cum - base - sz / 2) / total + offsets[s]) % 1.0
    out = np.empty(len(idx), dtype=np.int64)
    out[np.searchsorted(idx, order)] = np.searchsorted(np.cumsum(share)[:-1], pos, side="right")
    return out


def check_grouping(row_split: np.ndarray, codes: np.ndarray, what: str) -> None:
    """Raise :class:`StageError` if rows with the same code are in different splits."""
    if not len(codes):
        return
    first = np.full(int(codes.max()) + 1, -1)
    first[codes] = row_split
    bad = np.flatnonzero(first[codes] != row_split)
    if len(bad):
        raise StageError(f"split invariant broken: {len(np.unique(codes[bad]))} {what}(s) span two splits")


def leaks(table: pa.Table, group_key: str = "patient_id") -> int:
    """Number of groups (with the same fallback chain as :func:`assign`) found in more than one split."""
    groups, _ = group_column(table, group_key)
    g = pa.table({"g": groups, "s": pc.fill_null(table["split"], "")}).group_by("g").aggregate([("s", "count_distinct")])
    return int(pc.sum(pc.greater(g["s_count_distinct"], 1)).as_py() or 0)

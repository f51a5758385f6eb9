"""Counts that describe a manifest (columnar: ``value_counts``, ``group_by``, numpy ``bincount``).

:func:`compute` (a table) and :func:`compute_file` (a file, read one column at a time so a 1M-row
manifest stays small in memory) return the same JSON-friendly dict::

    rows, patients,
    by_source, by_status, by_split, by_license, by_modality, by_view, by_text_kind, by_synthetic,
    by_label_source   {label_source: label entries}
    labels            {finding: {state: label entries}}      (every label source)
    split_labels      {split: {finding: rows with a positive label}}
    licences          [{source, license, license_url, attribution, rows}]
    missing           {column: rows null / empty string / empty list}
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from manifests.columnar import LabelCodes, label_codes, present_pairs, read_columns
from manifests.schema import COLUMNS

#: Plain columns counted by value; missing values are counted under :data:`MISSING`.
COUNTED = ("source", "status", "split", "license", "modality", "view", "text_kind", "synthetic")
LICENCE_COLUMNS = ("source", "license", "license_url", "attribution")
MISSING = "(missing)"


def _value_counts(col) -> dict[str, int]:
    vc = pc.value_counts(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    out: dict[str, int] = {}
    for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
        k = MISSING if v is None or v == "" else str(v).lower() if isinstance(v, bool) else str(v)
        out[k] = out.get(k, 0) + c
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def missing_count(col) -> int:
    t = col.type
    if pa.types.is_list(t):
        n = pc.sum(pc.equal(pc.fill_null(pc.list_value_length(col), 0), 0)).as_py()
    elif pa.types.is_string(t):
        n = col.null_count + (pc.sum(pc.equal(col, "")).as_py() or 0)
    else:
        n = col.null_count
    return int(n or 0)


def _pair_counts(a: np.ndarray, b: np.ndarray, n_a: int, n_b: int, block: int = 1 << 20) -> np.ndarray:
    """``counts[i, j]`` of entries with ``a == i`` and ``b == j`` (code -1 counts as the last index);
    in blocks, so no temporary is bigger than a few MB."""
    counts = np.zeros(n_a * n_b, dtype=np.int64)
    for lo in range(0, len(a), block):
        aa = a[lo:lo + block].astype(np.int64)
        bb = b[lo:lo + block].astype(np.int64)
        aa %= n_a
        bb %= n_b
        aa *= n_b
        aa += bb
        counts += np.bincount(aa, minlength=n_a * n_b)
    return counts.reshape(n_a, n_b)


def label_stats(codes: LabelCodes, split: pa.Array | pa.ChunkedArray | None) -> dict:
    """``labels``, ``by_label_source`` and ``split_labels`` from label codes."""
    voc = {k: v + [MISSING] for k, v in codes.vocab.items()}   # code -1 -> MISSING
    n_f, n_s = len(voc["finding"]), len(voc["state"])
    fs = _pair_counts(codes.finding, codes.state, n_f, n_s)
    labels = {voc["finding"][i]: {voc["state"][j]: int(fs[i, j]) for j in range(n_s) if fs[i, j]}
              for i in range(n_f) if fs[i].any()}
    src = np.bincount(codes.label_source % len(voc["label_source"]), minlength=len(voc["label_source"]))
    sources = {voc["label_source"][i]: int(c) for i, c in enumerate(src) if c}
    split_labels: dict[str, dict[str, int]] = {}
    pos = codes.state == codes.code("state", "positive")
    if split is not None and pos.any():
        sp = split.combine_chunks() if isinstance(split, pa.ChunkedArray) else split
        sp_vals = pc.unique(sp)
        sp_code = pc.fill_null(pc.index_in(sp, value_set=sp_vals), len(sp_vals)).to_numpy(zero_copy_only=False)
        names = [MISSING if v in (None, "") else v for v in sp_vals.to_pylist()] + [MISSING]
        rows, f = present_pairs(codes.rows_of(pos), codes.finding[pos].astype(np.int64) % n_f, len(sp), n_f)
        c = np.bincount(sp_code[rows] * n_f + f, minlength=len(names) * n_f).reshape(len(names), n_f)
        for k, name in enumerate(names):
            for i in np.flatnonzero(c[k]):
                d = split_labels.setdefault(name, {})
                d[voc["finding"][i]] = d.get(voc["finding"][i], 0) + int(c[k, i])
    order = lambda d: dict(sorted(d.items()))  # noqa: E731
    return {"labels": order(labels), "by_label_source": dict(sorted(sources.items(), key=lambda kv: -kv[1])),
            "split_labels": {k: order(v) for k, v in sorted(split_labels.items())}}


def licences(table: pa.Table) -> list[dict]:
    t = pa.table({c: pc.fill_null(table[c], "") for c in LICENCE_COLUMNS})
    g = t.group_by(list(LICENCE_COLUMNS)).aggregate([([], "count_all")])
    g = g.sort_by([("count_all", "descending"), ("source", "ascending"), ("license", "ascending")])
    return [{**{c: r[c] or None for c in LICENCE_COLUMNS}, "rows": r["count_all"]} for r in g.to_pylist()]


def _patients(col) -> int:
    return int(pc.count_distinct(pc.if_else(pc.equal(col, ""), None, col)).as_py())


def compute(table: pa.Table) -> dict:
    """Stats of an in-memory manifest table (any subset of the columns)."""
    names = set(table.column_names)
    out: dict = {"rows": table.num_rows}
    if "patient_id" in names:
        out["patients"] = _patients(table["patient_id"])
    for c in COUNTED:
        if c in names:
            out[f"by_{c}"] = _value_counts(table[c])
    if "labels" in names:
        out.update(label_stats(label_codes(table["labels"]), table["split"] if "split" in names else None))
    if set(LICENCE_COLUMNS) <= names:
        out["licences"] = licences(table)
    out["missing"] = {c: missing_count(table[c]) for c in table.column_names}
    return out


def compute_file(path: str | os.PathLike) -> dict:
    """Stats of a manifest file, reading a few columns at a time (peak memory ≈ the labels column)."""
    small = list(dict.fromkeys(("patient_id", *COUNTED, *LICENCE_COLUMNS)))
    t = read_columns(path, small)
    out = compute(t)
    missing = out.pop("missing")
    split = t["split"]
    del t
    lab = read_columns(path, ["labels"])
    out.update(label_stats(label_codes(lab["labels"]), split))
    missing["labels"] = missing_count(lab["labels"])
    del lab
    for c in COLUMNS:
        if c not in missing:
            missing[c] = missing_count(read_columns(path, [c])[c])
    out["missing"] = {c: missing[c] for c in COLUMNS}
    return out

"""Row filters for export (a small, safe expression language) and merging manifest files.

Filter expressions are Python-like and evaluated columnar (each name is a whole column)::

    split == 'train' and source in ('openi', 'sample')
    not synthetic and width >= 256
    label('Effusion') == 'positive' or label('Cardiomegaly') in ('positive', 'uncertain')
    patient_id != None

    consistency.score < 0.5 or flag('view_mismatch')

Only comparisons (``== != < <= > >= in``/``not in``), ``and``/``or``/``not``, constants, column
names, ``consistency.score`` (null where the check did not run), ``flag(NAME)`` (the record's
consistency flags include NAME, or NAME:<finding> for ``label_contradiction``) and ``label(FINDING)`` (the finding's state, ``not_mentioned`` when absent; the most trusted
label source wins, see :data:`manifests.schema.LABEL_PREFERENCE`) are allowed. Unknown columns,
findings and values of vocabulary columns stop before any work with a "did you mean".
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from manifests import labels as L
from manifests.errors import UsageError
from manifests.registry import did_you_mean, lookup
from manifests.schema import COLUMNS, LABEL_PREFERENCE, SPLITS, STATUSES, TEXT_KINDS

#: Columns whose legal values are known: a literal outside them is a usage error.
VALUE_VOCAB = {"split": SPLITS, "status": STATUSES, "text_kind": TEXT_KINDS, "label()": L.STATES}
#: Columns whose literals are checked against the values present in the manifest.
PRESENT_VOCAB = ("source", "license", "modality", "view", "body_part")

_CMP = {ast.Eq: pc.equal, ast.NotEq: pc.not_equal, ast.Lt: pc.less, ast.LtE: pc.less_equal,
        ast.Gt: pc.greater, ast.GtE: pc.greater_equal}


def label_state(table: pa.Table, finding: str) -> pa.Array:
    """Per-row state of ``finding`` (``not_mentioned`` where unlabelled), most trusted source wins."""
    finding = L.canonical(finding)
    lab = table["labels"].combine_chunks()
    flat = lab.flatten()
    n = table.num_rows
    if not len(flat):
        return pa.array(["not_mentioned"] * n, pa.string())
    hit = pc.equal(flat.field("finding"), finding)
    rank = pc.fill_null(pc.index_in(flat.field("label_source"), value_set=pa.array(list(LABEL_PREFERENCE))),
                        len(LABEL_PREFERENCE))
    t = pa.table({"r": pc.list_parent_indices(lab), "rank": rank, "s": flat.field("state")}).filter(hit)
    # keep, per row, the entry of the best rank (last one among equals, like primary_labels)
    t = t.append_column("i", pa.array(range(t.num_rows), pa.int64()))
    t = t.sort_by([("r", "ascending"), ("rank", "descending"), ("i", "ascending")])
    best = t.group_by("r", use_threads=False).aggregate([("s", "last")])
    idx = pc.index_in(pa.array(range(n), pa.int64()), value_set=best["r"])
    return pc.fill_null(pc.take(best["s_last"], idx), "not_mentioned")


class _Eval:
    def __init__(self, table: pa.Table):
        self.t = table

    def __call__(self, node):
        meth = getattr(self, "_" + type(node).__name__, None)
        if meth is None:
            raise UsageError(f"filter: '{ast.unparse(node)}' is not allowed (comparisons, and/or/not, label(...))")
        return meth(node)

    def _Expression(self, node):
        return self(node.body)

    def _Name(self, node):
        lookup({c: c for c in COLUMNS}, node.id, "column")
        return self.t[node.id].combine_chunks()

    def _Constant(self, node):
        return node.value

    def _Tuple(self, node):
        return [self(e) for e in node.elts]

    _List = _Tuple

    def _Attribute(self, node):
        if not (isinstance(node.value, ast.Name) and node.value.id == "consistency" and node.attr == "score"):
            raise UsageError(f"filter: only consistency.score may be read with '.', not '{ast.unparse(node)}'")
        return pc.struct_field(self.t["consistency"].combine_chunks(), "score")

    def _flag(self, name: str) -> pa.Array:
        col = self.t["consistency"].combine_chunks()
        flags = pc.struct_field(col, "flags")
        flat = pc.list_flatten(flags)
        hit = pc.or_(pc.equal(flat, name), pc.starts_with(flat, name + ":"))
        rows = pc.list_parent_indices(flags)
        hit_rows = pc.unique(pc.filter(rows, hit))
        return pc.is_in(pa.array(range(self.t.num_rows), pa.int64()), value_set=hit_rows.cast(pa.int64()))

    def _Call(self, node):
        if (isinstance(node.func, ast.Name) and node.func.id == "flag" and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            return self._flag(node.args[0].value)
        if not (isinstance(node.func, ast.Name) and node.func.id == "label" and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            raise UsageError(f"filter: only label('Finding') may be called, not '{ast.unparse(node)}'")
        return label_state(self.t, node.args[0].value)

    def _BoolOp(self, node):
        vals = [self._bool(v) for v in node.values]
        fn = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
        out = vals[0]
        for v in vals[1:]:
            out = fn(out, v)
        return out

    def _UnaryOp(self, node):
        if not isinstance(node.op, ast.Not):
            raise UsageError(f"filter: operator in '{ast.unparse(node)}' is not allowed")
        return pc.invert(self._bool(node.operand))

    def _bool(self, node):
        v = self(node)
        if isinstance(v, (pa.Array, pa.ChunkedArray)) and pa.types.is_boolean(v.type):
            return v
        raise UsageError(f"filter: '{ast.unparse(node)}' is not a condition")

    def _check_literal(self, node, value):
        what = None
        if isinstance(node, ast.Name):
            what = node.id
        elif isinstance(node, ast.Call):
            what = "label()"
        vals = value if isinstance(value, list) else [value]
        if what in VALUE_VOCAB:
            legal = VALUE_VOCAB[what]
        elif what in PRESENT_VOCAB:
            legal = [v for v in pc.unique(self.t[what]).to_pylist() if v is not None]
        else:
            return
        for v in vals:
            if isinstance(v, str) and v not in legal:
                raise UsageError(f"filter: unknown {what.rstrip('()') or what} value '{v}'{did_you_mean(v, legal)}")

    def _Compare(self, node):
        left_node, out = node.left, None
        left = self(left_node)
        for op, right_node in zip(node.ops, node.comparators):
            right = self(right_node)
            for a, b in ((left_node, right), (right_node, left)):
                if not isinstance(b, (pa.Array, pa.ChunkedArray)):
                    self._check_literal(a, b)
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, list):
                    raise UsageError("filter: 'in' needs a tuple or list of constants")
                res = pc.is_in(left, value_set=pa.array(right))
                res = pc.invert(res) if isinstance(op, ast.NotIn) else res
            elif isinstance(op, (ast.Is, ast.IsNot)) or right is None:
                if right is not None:
                    raise UsageError("filter: 'is' only compares with None")
                res = pc.is_null(left) if isinstance(op, (ast.Is, ast.Eq)) else pc.is_valid(left)
            elif type(op) in _CMP:
                res = _CMP[type(op)](left, right)
            else:
                raise UsageError(f"filter: operator in '{ast.unparse(node)}' is not allowed")
            out = res if out is None else pc.and_kleene(out, res)
            left_node, left = right_node, right
        return out


def filter_mask(table: pa.Table, expr: str) -> pa.Array:
    """Boolean mask of rows matching ``expr`` (null counts as no match)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as err:
        raise UsageError(f"filter '{expr}' is not a valid expression: {err.msg}") from None
    try:
        mask = _Eval(table)._bool(tree.body)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise UsageError(f"filter '{expr}': {err}") from None
    return pc.fill_null(mask, False)


def filter_table(table: pa.Table, expr: str | None) -> pa.Table:
    return table if not expr else table.filter(filter_mask(table, expr))


def merge_files(paths: list[str | os.PathLike], out: str | os.PathLike) -> tuple[Path, list[dict], dict]:
    """Merge manifests (first occurrence of a key wins) into ``out``; returns (path, conflicts, summary).

    Each input's ``image_path`` is rebased onto ``out``'s directory first."""
    from manifests.io import MANIFEST_NAME, merge, read_manifest, rebase_image_paths, resolve_manifest, write_manifest

    out = Path(out)
    out = out if out.suffix == ".parquet" else out / MANIFEST_NAME
    srcs = [resolve_manifest(p) for p in paths]
    tables = [rebase_image_paths(read_manifest(p), p.parent, out.parent) for p in srcs]
    merged, conflicts = merge(tables)
    total = sum(t.num_rows for t in tables)
    summary = {"inputs": [str(p) for p in paths], "rows_in": total, "rows_out": merged.num_rows,
               "duplicates_dropped": total - merged.num_rows, "conflicts": len(conflicts)}
    path = write_manifest(merged, out, meta={"merge": {"inputs": summary["inputs"]}})
    return path, conflicts, summary

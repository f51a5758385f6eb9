"""Validate a manifest: schema, provenance, keys, label vocabulary, splits, files.

Every check is columnar (``pyarrow.compute`` over whole columns); only the optional file check
(exists + sha256) visits rows one by one, because it reads files. The result is a table of
problems, one row per ``(key, column, problem, detail)``:

==========================  ============================================================
problem                      meaning
==========================  ============================================================
``unknown_column``           the file has a column the schema does not know
``missing_column``           ``key``, ``source`` or ``source_id`` is absent
``bad_type``                 a column cannot be cast to the schema's type
``missing_key``              ``key`` is null or empty
``duplicate_key``            ``key`` appears more than once (reported once per key)
``key_mismatch``             ``key`` is not ``source:source_id``
``missing_provenance``       a record with ``provenance_required`` (set from its source's
                             declaration) lacks a :data:`~manifests.schema.PROVENANCE_COLUMNS`
                             value (null flag, as in older manifests: not required)
``illegal_state``            a label state outside :data:`manifests.labels.STATES`
``illegal_label_source``     a label_source outside :data:`manifests.labels.LABEL_SOURCES`
``unknown_finding``          a finding name that is not canonical (aliases are named)
``illegal_value``            a ``split`` / ``status`` / ``text_kind`` value outside its vocabulary
``synthetic_in_eval``        a synthetic record in val or test
``patient_in_two_splits``    a patient's records lie in more than one split (one row per patient)
``dup_group_in_two_splits``  a near-duplicate group lies in more than one split
``missing_image_path``       an ``ok`` record without ``image_path`` (file check only)
``missing_file``             an ``ok`` record's ``image_path`` does not exist (relative to the
                             manifest's directory)
``sha256_mismatch``          an ``ok`` record's file has another sha256 than ``image_sha256``
``record_error``             the record has ``status=error`` (reported, not a violation)
==========================  ============================================================
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from manifests import labels as L
from manifests.columnar import label_codes, read_columns
from manifests.io import atomic_path, read_parts, read_schema, resolve_manifest, write_json_atomic
from manifests.registry import did_you_mean
from manifests.schema import COLUMNS, PROVENANCE_COLUMNS, SCHEMA, SPLITS, STATUSES, TEXT_KINDS

PROBLEM_SCHEMA = pa.schema([("key", pa.string()), ("column", pa.string()),
                            ("problem", pa.string()), ("detail", pa.string())])
#: Problems that are reported but do not make a manifest invalid.
INFO_PROBLEMS = frozenset({"record_error"})
REQUIRED_COLUMNS = ("key", "source", "source_id")
#: Columns the checks read (the rest are only type-checked from the Parquet schema).
CHECKED_COLUMNS = ("key", "source", "source_id", "provenance_required", *PROVENANCE_COLUMNS, "labels", "split", "status",
                   "error", "synthetic", "text_kind", "image_path", "image_sha256", "patient_id", "dup_group")
VOCABULARIES = {"split": SPLITS, "status": STATUSES, "text_kind": TEXT_KINDS}


@dataclass
class ValidationReport:
    rows: int
    problems: pa.Table

    @property
    def violations(self) -> int:
        return int(pc.sum(pc.invert(pc.is_in(self.problems["problem"], pa.array(sorted(INFO_PROBLEMS))))).as_py() or 0)

    @property
    def ok(self) -> bool:
        return self.violations == 0

    def counts(self) -> dict[str, int]:
        """``{"problem/column": n}`` over all problems."""
        if not self.problems.num_rows:
            return {}
        g = self.problems.group_by(["problem", "column"], use_threads=False).aggregate([([], "count_all")])
        return {f"{p}/{c}": n for p, c, n in zip(g["problem"].to_pylist(), g["column"].to_pylist(), g["count_all"].to_pylist())}

    def summary(self) -> dict:
        return {"rows": self.rows, "problems": self.problems.num_rows, "violations": self.violations,
                "valid": self.ok, "counts": self.counts()}

    def write(self, path: str | os.PathLike) -> Path:
        """Write the problems as CSV (``.csv``) or JSON (anything else) atomically."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            import pyarrow.csv as pacsv

            from manifests.ops.export.csv import csv_safe_table

            with atomic_path(path) as tmp:
                pacsv.write_csv(csv_safe_table(self.problems), tmp)
        else:
            write_json_atomic(path, {**self.summary(), "problems": self.problems.to_pylist()})
        return path


# --- helpers -------------------------------------------------------------------------------

def _problems(keys: pa.Array, mask, column: str, problem: str, detail) -> pa.Table:
    """Problem rows for the rows where ``mask`` is true (``detail``: a str or a per-row array)."""
    mask = pc.fill_null(mask, False)
    k = pc.filter(keys, mask)
    n = len(k)
    if isinstance(detail, str) or detail is None:
        d = pa.repeat(pa.scalar(detail, pa.string()), n)
    else:
        d = pc.filter(detail, mask)
    return pa.table([k, pa.repeat(pa.scalar(column), n), pa.repeat(pa.scalar(problem), n), d.cast(pa.string())],
                    schema=PROBLEM_SCHEMA)


def _blank(arr) -> pa.Array:
    """Null, or an empty string for string columns."""
    if pa.types.is_string(arr.type):
        return pc.or_kleene(pc.is_null(arr), pc.equal(arr, ""))
    return pc.is_null(arr)


def _value_details(values: pa.Array, what: str, legal: Iterable[str], hint=None) -> pa.Array:
    """Per-value message ``"<what> 'x' ...; did you mean 'y'?"``, computed once per distinct value."""
    legal = tuple(legal)
    uniq = pc.unique(values)
    msgs = []
    for v in uniq.to_pylist():
        if v is None:
            msgs.append(f"{what} is null")
        else:
            msgs.append((hint(v) if hint else None) or f"illegal {what} '{v}'{did_you_mean(v, legal)}")
    return pc.take(pa.array(msgs, pa.string()), pc.index_in(values, value_set=uniq, skip_nulls=False))


def _illegal(keys: pa.Array, values: pa.Array, legal: Iterable[str], column: str, problem: str, what: str,
             *, allow_null: bool = True, hint=None) -> pa.Table:
    legal = tuple(legal)
    bad = pc.invert(pc.is_in(values, value_set=pa.array(legal, pa.string())))
    bad = pc.if_else(pc.is_null(values), not allow_null, bad)
    if not pc.any(bad).as_py():
        return PROBLEM_SCHEMA.empty_table()
    sel_keys = pc.filter(keys, bad)
    sel_vals = pc.filter(values, bad)
    return _problems(sel_keys, pa.array([True] * len(sel_keys)), column, problem,
                     _value_details(sel_vals, what, legal, hint))


def _leaks(table: pa.Table, keys: pa.Array, column: str, problem: str) -> pa.Table:
    """One problem per value of ``column`` whose rows (with a split) lie in more than one split."""
    val, split = table[column], table["split"]
    usable = pc.and_(pc.invert(_blank(val)), pc.is_in(split, value_set=pa.array(list(SPLITS))))
    if not pc.any(usable).as_py():
        return PROBLEM_SCHEMA.empty_table()
    t = pa.table({"v": pc.filter(val, usable), "s": pc.filter(split, usable), "k": pc.filter(keys, usable)})
    g = t.group_by("v", use_threads=False).aggregate([("s", "count_distinct"), ("s", "distinct"), ("k", "min")])
    bad = pc.greater(g["s_count_distinct"], 1)
    if not pc.any(bad).as_py():
        return PROBLEM_SCHEMA.empty_table()
    g = g.filter(bad)
    detail = [f"{column} '{v}' is in {', '.join(sorted(s))}" for v, s in zip(g["v"].to_pylist(), g["s_distinct"].to_pylist())]
    return _problems(g["k_min"], pa.repeat(pa.scalar(True), g.num_rows), column, problem, pa.array(detail, pa.string()))


def _finding_hint(name: str) -> str | None:
    if L.is_finding(name):
        return f"finding '{name}' is not canonical; use '{L.canonical(name)}'"
    return None


# --- the checks ----------------------------------------------------------------------------

def check_table(table: pa.Table) -> pa.Table:
    """Columnar checks of a conformed table (everything except schema and files)."""
    keys = pc.fill_null(table["key"].combine_chunks(), "")
    parts: list[pa.Table] = []
    add = parts.append

    # keys
    add(_problems(keys, _blank(table["key"]), "key", "missing_key", "key is null or empty"))
    counts = pa.table({"key": keys}).group_by("key", use_threads=False).aggregate([("key", "count")])
    dup = pc.and_(pc.greater(counts["key_count"], 1), pc.not_equal(counts["key"], ""))
    add(_problems(counts["key"], dup, "key", "duplicate_key",
                  pc.binary_join_element_wise("key appears ", pc.cast(counts["key_count"], pa.string()), " times", "")))
    expected = pc.binary_join_element_wise(table["source"], table["source_id"], ":")
    mismatch = pc.or_kleene(pc.is_null(expected), pc.not_equal(table["key"], expected))
    mismatch = pc.and_(mismatch, pc.invert(_blank(table["key"])))
    add(_problems(keys, mismatch, "key", "key_mismatch",
                  pc.binary_join_element_wise("expected '", pc.fill_null(expected, "<source or source_id missing>"), "'", "")))

    # provenance, where the record's source declared it required
    required = pc.fill_null(table["provenance_required"], False)
    for col in PROVENANCE_COLUMNS:
        add(_problems(keys, pc.and_(required, _blank(table[col])), col, "missing_provenance",
                      f"record of a source that requires provenance, without {col}"))

    # labels (as integer codes: a 1M-row manifest has ~15M entries)
    codes = label_codes(table["labels"])
    for field, legal, problem, what, hint in (
        ("state", L.STATES, "illegal_state", "label state", None),
        ("label_source", L.LABEL_SOURCES, "illegal_label_source", "label_source", None),
        ("finding", L.ALL_FINDINGS, "unknown_finding", "finding", _finding_hint),
    ):
        bad = ~codes.legal_mask(field, legal)
        if bad.any():
            lkeys = pc.take(keys, pa.array(codes.rows_of(bad)))
            vals = codes.values(field, bad)
            add(_problems(lkeys, pa.array(np.ones(len(lkeys), bool)), "labels", problem,
                          _value_details(vals, what, legal, hint)))

    # vocabularies of plain columns
    for col, legal in VOCABULARIES.items():
        add(_illegal(keys, table[col].combine_chunks(), legal, col, "illegal_value", col))
    in_eval = pc.is_in(table["split"], value_set=pa.array(["val", "test"]))
    add(_problems(keys, pc.and_(pc.fill_null(table["synthetic"], False), in_eval), "split", "synthetic_in_eval",
                  "synthetic record outside train"))

    # leakage: a patient or a near-duplicate group in two splits
    for col, problem in (("patient_id", "patient_in_two_splits"), ("dup_group", "dup_group_in_two_splits")):
        add(_leaks(table, keys, col, problem))

    # record errors: reported, not violations
    is_err = pc.equal(table["status"], "error")
    add(_problems(keys, is_err, "status", "record_error", pc.fill_null(table["error"], "")))
    return pa.concat_tables(parts)


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def check_files(table: pa.Table, base_dir: str | os.PathLike, *, workers: int = 4) -> pa.Table:
    """Image file exists and its sha256 matches (``image_path`` relative to ``base_dir``)."""
    base = Path(base_dir)
    keys = pc.fill_null(table["key"].combine_chunks(), "")
    parts = [_problems(keys, pc.and_(pc.equal(table["status"], "ok"), _blank(table["image_path"])),
                       "image_path", "missing_image_path", "ok record without image_path")]
    # records with status error/skipped: their missing or broken file is part of their own error
    has = pc.and_(pc.invert(_blank(table["image_path"])), pc.equal(table["status"], "ok"))
    sub = table.filter(has).select(["key", "image_path", "image_sha256"]).to_pydict()
    paths = [base / p for p in sub["image_path"]]  # per-row: we read every file anyway
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(_sha256, paths))
    rows = []
    for key, rel, want, got in zip(sub["key"], sub["image_path"], sub["image_sha256"], digests):
        if got is None:
            rows.append((key or "", "image_path", "missing_file", f"no readable file at '{rel}'"))
        elif not want:
            rows.append((key or "", "image_sha256", "sha256_mismatch", f"image_sha256 is empty; file has {got}"))
        elif want.lower() != got:
            rows.append((key or "", "image_sha256", "sha256_mismatch", f"recorded {want[:12]}..., file has {got[:12]}..."))
    if rows:
        k, c, p, d = zip(*rows)
        parts.append(pa.table([pa.array(k), pa.array(c), pa.array(p), pa.array(d)], schema=PROBLEM_SCHEMA))
    return pa.concat_tables(parts)


def _load(path: Path, columns: Iterable[str]) -> tuple[pa.Table, pa.Table]:
    """Read ``columns`` and cast them to the schema; returns (table, schema problems)."""
    file_schema = read_schema(path)  # a file, or the first part (read_parts checks the others agree)
    present = set(file_schema.names)
    probs = []
    for name in file_schema.names:
        if name not in COLUMNS:
            probs.append(("", name, "unknown_column", f"column '{name}' is not in the schema{did_you_mean(name, COLUMNS)}"))
    for name in REQUIRED_COLUMNS:
        if name not in present:
            probs.append(("", name, "missing_column", f"required column '{name}' is absent"))
    # type check every known column from the file schema; read only the columns we check
    bad_types: set[str] = set()
    for name in file_schema.names:
        if name in COLUMNS and file_schema.field(name).type != SCHEMA.field(name).type:
            want = SCHEMA.field(name).type
            try:
                read_parts(path, columns=[name]).column(name).cast(want)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
                bad_types.add(name)
                probs.append(("", name, "bad_type", f"type {file_schema.field(name).type} cannot be cast to {want}: {err}"[:300]))
    table = read_columns(path, columns, skip=bad_types)
    if probs:
        k, c, p, d = zip(*probs)
        schema_probs = pa.table([pa.array(k), pa.array(c), pa.array(p), pa.array(d)], schema=PROBLEM_SCHEMA)
    else:
        schema_probs = PROBLEM_SCHEMA.empty_table()
    return table, schema_probs


def _violations_first(problems: pa.Table) -> pa.Table:
    """Violations before informational problems (record errors), each in check order."""
    info = pc.is_in(problems["problem"], value_set=pa.array(sorted(INFO_PROBLEMS)))
    return pa.concat_tables([problems.filter(pc.invert(info)), problems.filter(info)])


def validate_table(table: pa.Table, base_dir: str | os.PathLike | None = None, *, files: bool = True) -> ValidationReport:
    """Validate an in-memory (conformed) table; files are checked when ``files`` and ``base_dir``."""
    parts = [check_table(table)]
    if files and base_dir is not None:
        parts.append(check_files(table, base_dir))
    return ValidationReport(table.num_rows, _violations_first(pa.concat_tables(parts)))


def validate_manifest(path: str | os.PathLike, *, files: bool = True) -> ValidationReport:
    """Validate a manifest file (or directory holding ``manifest.parquet``)."""
    p = resolve_manifest(path)
    table, schema_probs = _load(p, CHECKED_COLUMNS)
    report = validate_table(table, p.parent, files=files)
    report.problems = _violations_first(pa.concat_tables([schema_probs, report.problems]))
    return report

"""Memory-light columnar access to big manifests (what validate, split and stats are built on).

* :func:`read_columns` reads only the named columns, with the label sub-fields dictionary-encoded
  (a 1M-row manifest holds ~15M label entries: as plain strings they cost ~550 MB, as dictionary
  indices ~200 MB).
* :func:`label_codes` turns the ``labels`` column into flat numpy arrays: the row of each entry and
  integer codes for finding / state / label_source (``-1`` for null) with their vocabularies.
* :func:`read_full` / :func:`write_full` read and write a whole manifest keeping the label
  sub-fields dictionary-encoded in memory (the file is the same as ``write_manifest``'s).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.errors import ManifestError
from manifests.io import META_KEY, atomic_path, manifest_parts, num_rows, read_parts, read_schema, resolve_manifest, write_parts
from manifests.schema import SCHEMA

LABEL_FIELDS = ("finding", "state", "label_source")
_LABEL_DICT = [f"labels.list.element.{f}" for f in LABEL_FIELDS]


def _default(name: str, n: int) -> pa.Array:
    f = SCHEMA.field(name)
    if name == "status":
        return pa.array(["ok"] * n, pa.string())
    if name == "synthetic":
        return pa.array(np.zeros(n, dtype=bool))
    if pa.types.is_list(f.type):
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], f.type.value_type))
    return pa.nulls(n, f.type)


def read_columns(path: str | os.PathLike, columns: Iterable[str], *, skip: Iterable[str] = ()) -> pa.Table:
    """The named columns of a manifest file; absent ones get defaults, ``skip`` ones too.

    Plain columns are cast to the schema's type. When the file stores the schema's label type,
    ``labels`` comes back lean, for :func:`label_codes`: only ``finding``, ``state`` and
    ``label_source``, dictionary-encoded (``annotator`` is not read).
    """
    p = resolve_manifest(path)
    columns, skip = list(columns), set(skip)
    try:
        file_schema = read_schema(p)
        present = [c for c in columns if c in file_schema.names and c not in skip]
        lean = "labels" in present and file_schema.field("labels").type == SCHEMA.field("labels").type
        plain = [c for c in present if not (lean and c == "labels")]
        raw = read_parts(p, columns=plain) if plain else None
        labels = _read_lean_labels(p) if lean else None
    except (pa.ArrowInvalid, OSError) as err:
        raise ManifestError(f"cannot read manifest '{p}': {err}") from err
    n = raw.num_rows if raw is not None else len(labels) if labels is not None else num_rows(p)
    arrays, fields = [], []
    for c in columns:
        if lean and c == "labels":
            arrays.append(labels)
            fields.append(pa.field(c, labels.type))
        elif c in plain:
            col = raw[c]
            col = col if col.type == SCHEMA.field(c).type else col.cast(SCHEMA.field(c).type)
            arrays.append(col)
            fields.append(pa.field(c, col.type))
        else:
            arrays.append(_default(c, n))
            fields.append(SCHEMA.field(c))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _read_lean_labels(path: Path) -> pa.ChunkedArray:
    """``labels`` with only the leaves finding/state/label_source, dictionary-encoded, one chunk
    per row group of each part (Parquet reads just those leaf columns)."""
    chunks = []
    for part in manifest_parts(path):
        pf = pq.ParquetFile(part, read_dictionary=_LABEL_DICT)
        leaves = [i for i in range(len(pf.schema)) if pf.schema.column(i).path in _LABEL_DICT]
        groups = [pf.reader.read_row_group(g, column_indices=leaves).column(0) for g in range(pf.num_row_groups)]
        chunks.extend(c for ch in groups for c in ch.chunks)
    if not chunks:
        t = pa.list_(pa.struct([pa.field(f, pa.dictionary(pa.int32(), pa.string())) for f in LABEL_FIELDS]))
        return pa.chunked_array([], type=t)
    return pa.chunked_array(chunks)


@dataclass
class LabelCodes:
    """Flat label entries of a ``labels`` column as integer codes into per-field vocabularies.

    ``offsets[r]:offsets[r+1]`` are the entries of row ``r``; codes are ``-1`` for null.
    """

    offsets: np.ndarray
    finding: np.ndarray
    state: np.ndarray
    label_source: np.ndarray
    vocab: dict[str, list]

    def __len__(self) -> int:
        return len(self.finding)

    def rows_of(self, mask: np.ndarray) -> np.ndarray:
        """Row index of each selected entry (``mask``: boolean over entries)."""
        return np.searchsorted(self.offsets, np.flatnonzero(mask), side="right") - 1

    def code(self, field: str, value: str) -> int:
        """Code of ``value`` in ``field``'s vocabulary (-2 if it never occurs)."""
        v = self.vocab[field]
        return v.index(value) if value in v else -2

    def legal_mask(self, field: str, legal: Iterable[str]) -> np.ndarray:
        """Per-entry boolean: the value is in ``legal`` (null is not)."""
        legal = set(legal)
        ok_vocab = np.array([v in legal for v in self.vocab[field]] + [False], dtype=bool)
        return ok_vocab[getattr(self, field)]  # code -1 indexes the trailing False

    def values(self, field: str, mask: np.ndarray) -> pa.Array:
        """The string values of the selected entries (null where the code is -1)."""
        idx = getattr(self, field)[mask].astype(np.int32)
        idx[idx < 0] = len(self.vocab[field])
        return pc.take(pa.array(self.vocab[field] + [None], pa.string()), pa.array(idx))


def label_codes(labels: pa.ChunkedArray | pa.Array) -> LabelCodes:
    """Codes of a ``labels`` column (plain or dictionary sub-fields), written into preallocated
    arrays: a 15M-entry column costs ~90 MB and no concatenation."""
    chunks = labels.chunks if isinstance(labels, pa.ChunkedArray) else [labels]
    fields = []   # per chunk: {field: DictionaryArray}
    vocabs: dict[str, dict] = {f: {} for f in LABEL_FIELDS}
    lengths = []
    for chunk in chunks:
        flat = chunk.flatten()
        d = {}
        for f in LABEL_FIELDS:
            arr = pc.struct_field(flat, f)
            d[f] = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
            for v in d[f].dictionary.to_pylist():
                if v is not None:
                    vocabs[f].setdefault(v, len(vocabs[f]))
        fields.append(d)
        lengths.append(len(flat))
    total = int(sum(lengths))
    out = {}
    for f in LABEL_FIELDS:
        dtype = np.int16 if len(vocabs[f]) < 32000 else np.int32
        dst = np.empty(total, dtype=dtype)
        pos = 0
        for d, n in zip(fields, lengths):
            arr = d[f]
            local = np.array([vocabs[f][v] if v is not None else -1 for v in arr.dictionary.to_pylist()] + [-1], dtype=dtype)
            idx = arr.indices
            if idx.null_count:
                idx = pc.fill_null(idx, len(local) - 1)
            np.take(local, idx.to_numpy(zero_copy_only=False), out=dst[pos:pos + n])
            pos += n
        out[f] = dst
    offsets = np.zeros(sum(len(c) for c in chunks) + 1, dtype=np.int64)
    row = 0
    for chunk in chunks:
        lens = pc.fill_null(pc.list_value_length(chunk), 0).to_numpy(zero_copy_only=False)
        offsets[row + 1: row + 1 + len(lens)] = lens
        row += len(lens)
    np.cumsum(offsets, out=offsets)
    return LabelCodes(offsets, out["finding"], out["state"], out["label_source"],
                      {f: list(vocabs[f]) for f in LABEL_FIELDS})


def present_pairs(a: np.ndarray, b: np.ndarray, n_a: int, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(a, b)`` pairs (``0 <= a < n_a``, ``0 <= b < n_b``), sorted by a then b."""
    if n_a * n_b <= 50_000_000:
        m = np.zeros(n_a * n_b, dtype=bool)
        m[a.astype(np.int64) * n_b + b] = True
        flat = np.flatnonzero(m)
    else:
        flat = np.unique(a.astype(np.int64) * n_b + b)
    return flat // n_b, flat % n_b


def read_full(path: str | os.PathLike) -> pa.Table:
    """Every column of a manifest, label sub-fields dictionary-encoded (conformed otherwise).

    Pair with :func:`write_full`: a read-modify-write of a 1M-row manifest then never expands the
    ~15M label strings.
    """
    p = resolve_manifest(path)
    try:
        if read_schema(p).remove_metadata().equals(SCHEMA):
            return read_parts(p, read_dictionary=_LABEL_DICT)
    except (pa.ArrowInvalid, OSError) as err:
        raise ManifestError(f"cannot read manifest '{p}': {err}") from err
    from manifests.io import read_manifest

    return read_manifest(p)


#: Low-cardinality Parquet column paths worth dictionary pages (keys, hashes, paths are not:
#: building a dictionary for them only to fall back costs ~20 % of the write time).
DICTIONARY_COLUMNS = (
    "source", "license", "license_url", "attribution", "modality", "body_part", "view", "text_kind", "split",
    "status", "error", "stage_version", "generator", "quality_flags.list.element",
    *(f"labels.list.element.{f}" for f in ("finding", "state", "label_source", "annotator")),
    *(f"phi_flags.list.element.{f}" for f in ("where", "kind")),
    *(f"entities.list.element.{f}" for f in ("label", "section")),
    *(f"boxes.list.element.{f}" for f in ("label", "label_source", "annotator")),
)


def _has_path(schema: pa.Schema, path: str) -> bool:
    return path.split(".")[0] in schema.names


def write_full(table: pa.Table, path: str | os.PathLike, *, meta: dict | None = None, part_rows: int | None = None) -> Path:
    """Write a table from :func:`read_full` atomically (the same Parquet as ``write_manifest``).

    The Arrow schema is not stored, so readers see the plain schema types (dictionary encoding is
    a Parquet page detail); the medharvest metadata of ``table`` is kept and updated with ``meta``.
    ``part_rows``: a partitioned manifest (see :func:`manifests.io.write_manifest`).
    """
    path = Path(path)
    if path.suffix != ".parquet":
        path = path / "manifest.parquet"
    old = table.schema.metadata or {}
    merged = {**(json.loads(old[META_KEY]) if META_KEY in old else {}), **(meta or {})}
    table = table.replace_schema_metadata(None)

    def write(t: pa.Table, dest: Path) -> None:
        with pq.ParquetWriter(dest, t.schema, compression="zstd", store_schema=False,
                              use_dictionary=[c for c in DICTIONARY_COLUMNS if _has_path(t.schema, c)]) as writer:
            writer.write_table(t, row_group_size=128 * 1024)
            writer.add_key_value_metadata({META_KEY.decode(): json.dumps(merged, sort_keys=True)})

    if part_rows:
        return write_parts(table, path, part_rows, write)
    with atomic_path(path, ".parquet") as tmp:
        write(table, tmp)
    return path

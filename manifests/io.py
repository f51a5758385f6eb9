"""Read, write and merge manifests.

The canonical file is Parquet with :data:`manifests.schema.SCHEMA`. Writes are atomic (a temp
file in the same directory, fsync, ``os.replace``): a crash never leaves a half-written manifest.
Exports (CSV, JSONL, Hugging Face, WebDataset, ...) are in :mod:`manifests.ops.export`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.errors import ManifestError, UsageError
from manifests.registry import lookup
from manifests.schema import COLUMNS, SCHEMA, conform

MANIFEST_NAME = "manifest.parquet"
#: A partitioned manifest is a directory (conventionally ``manifest.parquet/``) of these parts.
PART_GLOB = "part-*.parquet"
#: Parquet key-value metadata stored with the table (e.g. split seed, group key).
META_KEY = b"medharvest"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        _swap_in(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _swap_in(new: Path, path: Path) -> None:
    """``os.replace(new, path)``, also when one of them is a directory (a partitioned manifest
    replacing a file or the other way round): the old one is renamed aside, then removed."""
    import shutil

    if not path.is_dir() and not new.is_dir():
        os.replace(new, path)
        return
    old = path.parent / f".{path.name}.old"
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def is_partitioned(path: str | os.PathLike) -> bool:
    """True when ``path`` is a directory of Parquet parts (``part-*.parquet``)."""
    p = Path(path)
    return p.is_dir() and any(p.glob(PART_GLOB))


def resolve_manifest(path: str | os.PathLike) -> Path:
    """A manifest: a Parquet file, a directory of parts, or a directory holding either as
    ``manifest.parquet``. ``.parent`` of the result is the directory ``image_path`` is relative to."""
    p = Path(path)
    if p.is_dir() and not is_partitioned(p):
        p = p / MANIFEST_NAME
    if not (p.is_file() or is_partitioned(p)):
        raise UsageError(f"manifest '{path}' does not exist")
    return p


def manifest_parts(path: str | os.PathLike) -> list[Path]:
    """The Parquet files of a manifest, in order: ``[file]`` or the sorted ``part-*.parquet``."""
    p = resolve_manifest(path)
    return sorted(p.glob(PART_GLOB)) if p.is_dir() else [p]


def read_schema(path: str | os.PathLike) -> pa.Schema:
    """The stored schema (with its metadata) of a manifest file or of its first part."""
    p = manifest_parts(path)[0]
    try:
        return pq.read_schema(p)
    except (pa.ArrowInvalid, OSError) as err:
        raise ManifestError(f"cannot read manifest '{p}': {err}") from err


def num_rows(path: str | os.PathLike) -> int:
    """Row count from the Parquet footers (no data read)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in manifest_parts(path))


def iter_batches(path: str | os.PathLike, columns: Iterable[str] | None = None, *,
                 batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
    """Stream a manifest (file or parts) as record batches: memory is one batch, not the table."""
    for p in manifest_parts(path):
        try:
            pf = pq.ParquetFile(p)
            cols = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
            yield from pf.iter_batches(batch_size=batch_size, columns=cols)
        except (pa.ArrowInvalid, OSError) as err:
            raise ManifestError(f"cannot read manifest '{p}': {err}") from err


def read_parts(path: str | os.PathLike, columns: list[str] | None = None, **kw) -> pa.Table:
    """``pq.read_table`` over every part, concatenated (each part is read whole, one at a time)."""
    tables = []
    for p in manifest_parts(path):
        try:
            tables.append(pq.read_table(p, columns=columns, **kw))
        except (pa.ArrowInvalid, OSError) as err:
            raise ManifestError(f"cannot read manifest '{p}': {err}") from err
    if len(tables) == 1:
        return tables[0]
    meta = tables[0].schema.metadata
    try:
        table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise ManifestError(f"the parts of manifest '{path}' do not share a schema: {err}") from err
    return table.replace_schema_metadata(meta)


def stage_input(manifest: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The input manifest file of a stage that writes a new manifest into ``out``; a usage error
    when ``out`` is the input's own directory (a stage never edits its input)."""
    src = resolve_manifest(manifest)
    if Path(out).resolve() == src.parent.resolve():
        raise UsageError(f"--out '{out}' is the input manifest's directory; a stage never edits its input")
    return src


def read_manifest(path: str | os.PathLike, columns: Iterable[str] | None = None) -> pa.Table:
    """Read a manifest (file, parts or directory), conformed to the schema.

    ``columns`` reads only those columns (columnar: a 1M-row manifest's ``split`` column is cheap).
    """
    p = resolve_manifest(path)
    if columns is not None:
        columns = list(columns)
        for c in columns:
            lookup({c: c for c in COLUMNS}, c, "column")
        file_cols = set(read_schema(p).names)
        present = [c for c in columns if c in file_cols]
        table = read_parts(p, columns=present)
        for i, c in enumerate(table.column_names):       # an older file: e.g. boxes without polygon
            if table.schema.field(c).type != SCHEMA.field(c).type:
                table = table.set_column(i, SCHEMA.field(c), table.column(c).cast(SCHEMA.field(c).type))
        for c in columns:
            if c not in file_cols:
                table = table.append_column(SCHEMA.field(c), pa.nulls(table.num_rows, SCHEMA.field(c).type))
        return table.select(columns)
    table = read_parts(p)
    meta = table.schema.metadata or {}
    table = conform(table.replace_schema_metadata(None))
    return table.replace_schema_metadata(meta)


def read_meta(path: str | os.PathLike) -> dict:
    """The medharvest metadata dict stored in a manifest file (``{}`` if none)."""
    meta = read_schema(path).metadata or {}
    raw = meta.get(META_KEY)
    return json.loads(raw) if raw else {}


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp directory beside ``path``; on success it takes ``path``'s place.

    The old file or directory is renamed aside first and removed after the new one is in place,
    so a crash leaves the old manifest, the new one, or (between the two renames) the old one
    under ``.<name>.old`` -- never a directory with some parts of each.
    """
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(f, 0o666 & ~_umask())
        os.chmod(tmp, 0o777 & ~_umask())
        _swap_in(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_parts(table: pa.Table, path: Path, part_rows: int, write: Callable[[pa.Table, Path], None]) -> Path:
    """Write ``table`` as ``path/part-00000.parquet`` ... of at most ``part_rows`` rows, atomically."""
    if part_rows < 1:
        raise ValueError(f"part_rows must be >= 1, got {part_rows}")
    with atomic_dir(path) as tmp:
        n = max(1, -(-table.num_rows // part_rows))
        for i in range(n):
            write(table.slice(i * part_rows, part_rows), tmp / f"part-{i:05d}.parquet")
    return path


def rebase_image_paths(table: pa.Table, from_dir: str | os.PathLike, to_dir: str | os.PathLike) -> pa.Table:
    """``image_path`` (relative to ``from_dir``) rewritten relative to ``to_dir``.

    ``image_path`` is always relative to the manifest's own directory, so a stage that writes a
    manifest somewhere else than its input must rebase (``write_manifest(..., images_from=...)``).
    """
    src, dst = Path(from_dir).resolve(), Path(to_dir).resolve()
    if src == dst or "image_path" not in table.column_names:
        return table
    col = table.column("image_path")
    # columnar for plain relative paths (prefix + "/" + path: same as relpath for them); the few
    # absolute or dot-segment paths go through os.path.relpath one by one
    prefix = os.path.relpath(src, dst)
    new = pc.binary_join_element_wise(prefix, col, "/")
    odd = pc.fill_null(pc.match_substring_regex(col, r"^$|^/|(^|/)\.\.?(/|$)"), False)
    if pc.any(odd).as_py():
        uniq = pc.unique(pc.filter(col, odd))
        mapping = {p: os.path.relpath(src / p, dst) for p in uniq.to_pylist()}
        fixed = pc.take(pa.array(list(mapping.values()), pa.string()),
                        pc.index_in(col, value_set=pa.array(list(mapping), pa.string())))
        new = pc.if_else(odd, fixed, new)
    i = table.schema.get_field_index("image_path")
    return with_image_roots(table.set_column(i, table.schema.field(i), new), [*table_image_roots(table), str(src)])


def table_image_roots(table: pa.Table) -> list[str]:
    """The image stores a (derived) manifest's ``image_path`` values may point into, from its metadata."""
    md = table.schema.metadata or {}
    try:
        roots = json.loads(md[META_KEY]).get("image_roots", []) if META_KEY in md else []
    except (ValueError, AttributeError):
        return []
    return [r for r in roots if isinstance(r, str)]


def with_image_roots(table: pa.Table, roots: Iterable[str]) -> pa.Table:
    """``table`` with ``image_roots`` (see :func:`manifests.paths.image_roots`) set in its metadata."""
    md = dict(table.schema.metadata or {})
    meta = json.loads(md[META_KEY]) if META_KEY in md else {}
    meta["image_roots"] = sorted(set(roots))
    md[META_KEY] = json.dumps(meta, sort_keys=True).encode()
    return table.replace_schema_metadata(md)


def write_manifest(table: pa.Table, path: str | os.PathLike, *, meta: dict | None = None,
                   images_from: str | os.PathLike | None = None, part_rows: int | None = None) -> Path:
    """Write ``table`` atomically as Parquet; ``meta`` is stored as key-value metadata.

    ``images_from``: the directory ``table``'s ``image_path`` values are relative to (the input
    manifest's directory); they are rebased onto the directory written to. ``part_rows``: write a
    partitioned manifest instead (``path`` becomes a directory of ``part-NNNNN.parquet`` files of
    at most that many rows, each with the same schema and metadata).
    """
    path = Path(path)
    if path.suffix != ".parquet":
        path = path / MANIFEST_NAME
    if images_from is not None:
        table = rebase_image_paths(table, images_from, path.parent)
    old_meta = {}
    if table.schema.metadata and META_KEY in table.schema.metadata:
        old_meta = json.loads(table.schema.metadata[META_KEY])
    table = conform(table.replace_schema_metadata(None))
    merged = {**old_meta, **(meta or {})}
    table = table.replace_schema_metadata({META_KEY: json.dumps(merged, sort_keys=True).encode()})

    def write(t: pa.Table, dest: Path) -> None:
        pq.write_table(t, dest, compression="zstd", row_group_size=128 * 1024)

    if part_rows:
        return write_parts(table, path, part_rows, write)
    with atomic_path(path, ".parquet") as tmp:
        write(table, tmp)
    return path


# --- merge ---------------------------------------------------------------------------------

def merge(tables: list[pa.Table], *, compare: Iterable[str] = ("image_sha256", "labels", "text")) -> tuple[pa.Table, list[dict]]:
    """Concatenate manifests and de-duplicate by ``key``; the first occurrence wins.

    Returns the merged table and a list of conflicts: for each key seen more than once with a
    different value in one of ``compare``, ``{"key", "column", "kept", "dropped"}``.
    """
    if not tables:
        return SCHEMA.empty_table(), []
    table = pa.concat_tables([conform(t.replace_schema_metadata(None)) for t in tables])
    n = table.num_rows
    idx = pa.array(range(n), type=pa.int64())
    keys = table.column("key")
    grouped = pa.table({"key": keys, "i": idx}).group_by("key", use_threads=False).aggregate([("i", "min"), ("i", "count")])
    first = pc.sort_indices(grouped.column("i_min"))
    keep = pc.take(grouped.column("i_min"), first)
    conflicts: list[dict] = []
    dup_keys = pc.filter(grouped.column("key"), pc.greater(grouped.column("i_count"), 1))
    if len(dup_keys):
        mask = pc.is_in(keys, value_set=dup_keys)
        sub = table.filter(mask).select(["key", *compare]).to_pylist()
        seen: dict[str, dict] = {}
        for row in sub:
            if row["key"] not in seen:
                seen[row["key"]] = row
                continue
            kept = seen[row["key"]]
            for col in compare:
                if row[col] != kept[col]:
                    conflicts.append({"key": row["key"], "column": col, "kept": kept[col], "dropped": row[col]})
    roots = {r for t in tables for r in table_image_roots(t)}
    out = table.take(keep)
    return (with_image_roots(out, roots) if roots else out), conflicts

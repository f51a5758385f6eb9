"""Helpers the format modules share: JSON-safe rows, split groups, image bytes, safe keys, shards.

Imports pyarrow inside the functions (the format modules are imported to list the formats in
``--help``, which must stay instant).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: manifest split -> the name each ecosystem uses for it
HF_SPLITS = {"train": "train", "val": "validation", "test": "test"}
#: rows without a split when other rows have one (never silently put into training)
UNASSIGNED = "unassigned"


def json_safe(row: dict) -> dict:
    """A record dict with its timestamp as ISO 8601 (everything else is JSON-native already)."""
    ts = row.get("retrieved_at")
    if ts is not None and not isinstance(ts, str):
        row = {**row, "retrieved_at": ts.isoformat()}
    return row


def flat_rows(table: pa.Table, batch_size: int = 65536) -> Iterator[dict]:
    """Rows with nested columns as JSON strings (for CSV: one cell per column, nothing lost)."""
    import pyarrow as pa

    nested = [f.name for f in table.schema if pa.types.is_list(f.type) or pa.types.is_struct(f.type)]
    for batch in table.to_batches(max_chunksize=batch_size):
        for row in batch.to_pylist():
            for name in nested:
                row[name] = json.dumps(row[name], ensure_ascii=False) if row[name] is not None else None
            yield json_safe(row)


def split_groups(table: pa.Table, names: dict[str, str]) -> list[tuple[str, pa.Table]]:
    """``[(output split name, rows)]`` in train/val/test order, empty splits left out.

    ``names`` maps the manifest's ``train``/``val``/``test`` to the format's names. A manifest
    with no split at all goes whole to the training split (what every loader expects of unsplit
    data); when some rows are split and others are not, the others go to ``unassigned``, never
    into training (they could share a patient with the test split).
    """
    import pyarrow.compute as pc

    split = table["split"]
    if split.null_count == table.num_rows:
        return [(names["train"], table)] if table.num_rows else []
    groups = []
    for value in ("train", "val", "test"):
        rows = table.filter(pc.fill_null(pc.equal(split, value), False))
        if rows.num_rows:
            groups.append((names[value], rows))
    rest = table.filter(pc.invert(pc.fill_null(pc.is_in(split, value_set=_arr(["train", "val", "test"])), False)))
    if rest.num_rows:
        groups.append((UNASSIGNED, rest))
    return groups


def _arr(values):
    import pyarrow as pa

    return pa.array(values, pa.string())


class ImageSource:
    """Reads a row's image bytes from the manifest's image store, checking its sha256.

    ``read(row)`` returns ``(bytes, None)`` or ``(None, reason)``; reasons are counted in
    :attr:`skipped` (a row that cannot carry its image is left out of an image export, and said so).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.skipped: Counter[str] = Counter()

    def path(self, row: dict) -> Path | None:
        rel = row.get("image_path")
        return None if not rel else self.root / rel

    def read(self, row: dict) -> tuple[bytes | None, str | None]:
        reason = None
        data = None
        if (row.get("status") or "ok") != "ok":
            reason = f"status_{row.get('status')}"
        elif not row.get("image_path"):
            reason = "no_image"
        else:
            try:
                data = self.path(row).read_bytes()
            except OSError:
                reason = "image_unreadable"
            else:
                want = row.get("image_sha256")
                if want and hashlib.sha256(data).hexdigest() != want:
                    data, reason = None, "image_sha256_mismatch"
        if reason:
            self.skipped[reason] += 1
        return data, reason

    def exportable(self, table: pa.Table) -> pa.Table:
        """Rows with status ok and an image file that exists (for formats that only point to images)."""
        import pyarrow as pa

        keep = []
        for row in table.select(["status", "image_path"]).to_pylist():
            ok = True
            if (row["status"] or "ok") != "ok":
                self.skipped[f"status_{row['status']}"] += 1
                ok = False
            elif not row["image_path"]:
                self.skipped["no_image"] += 1
                ok = False
            elif not self.path(row).is_file():
                self.skipped["image_missing"] += 1
                ok = False
            keep.append(ok)
        return table.filter(pa.array(keep, pa.bool_()))


def image_suffix(path: str | None) -> str:
    """``png``/``jpg``/... from the stored file name (the image store writes PNGs)."""
    suffix = Path(path or "").suffix.lower().lstrip(".")
    if suffix == "jpeg":
        suffix = "jpg"
    return suffix or "png"


def relpath(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


#: longest safe key (a member name must stay under the 255-byte file-name limit when extracted)
MAX_SAFE_KEY = 200


def safe_key(key: str) -> str:
    """A record key as a tar/webdataset/file-name safe string, reversible with :func:`unsafe_key`.

    Every character outside ``[A-Za-z0-9_-]`` becomes ``%XX`` (UTF-8 bytes): no ``.`` (webdataset
    splits key and extension at the first dot), no ``/`` (directories), no ``:`` (Windows). A key
    whose escaped form is longer than :data:`MAX_SAFE_KEY` is cut and ends in ``-`` + 16 hex digits
    of its sha256 (still unique; the original key is always in the sample's ``.json``).
    """
    safe = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), key)
    if len(safe) > MAX_SAFE_KEY:
        cut = safe[: MAX_SAFE_KEY - 17]
        cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut     # never split an escape
        safe = f"{cut}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return safe


def unsafe_key(safe: str) -> str:
    return urllib.parse.unquote(safe)


def findings_in(table: pa.Table) -> list[str]:
    """Findings labelled anywhere in ``table``, in vocabulary order (NIH-15, then CheXpert)."""
    import pyarrow.compute as pc

    from manifests.labels import ALL_FINDINGS

    flat = table["labels"].combine_chunks().flatten()
    present = set(pc.unique(flat.field("finding")).to_pylist()) if len(flat) else set()
    present.discard(None)
    ordered = [f for f in ALL_FINDINGS if f in present]
    return ordered + sorted(present - set(ordered))


def remove_stale(directory: Path, pattern: str, keep: set[str]) -> int:
    """Delete files in ``directory`` whose name fully matches ``pattern`` and is not in ``keep``.

    A re-export with fewer shards must not leave the previous run's extra shards behind (a loader
    globbing ``train-*.tar`` would read them); returns how many were removed.
    """
    rx = re.compile(pattern)
    n = 0
    for p in Path(directory).iterdir():
        if p.is_file() and rx.fullmatch(p.name) and p.name not in keep:
            p.unlink()
            n += 1
    return n


#: rows per Parquet row group for image rows (large rows; small groups keep readers' memory low)
ROW_GROUP = 64


class AtomicShards:
    """Numbered shard files of at most ``size`` rows (``None``: one file) in ``directory``, written
    one after another, each through :func:`manifests.io.atomic_path`. A context manager: on an
    exception the shard being written is removed, never left half. Subclasses name a shard
    (:meth:`shard_name`), open its writer on the temp path (:meth:`_open`: an object with
    ``close()``), get it with :meth:`_writer` and call :meth:`_counted` after each row.
    """

    #: suffix of the temp file (some writers pick the format by it)
    suffix = ""

    def __init__(self, directory: Path, size: int | None):
        self.dir, self.size = Path(directory), size
        self.names: list[str] = []
        self._file = self._ctx = None
        self._n = 0

    def shard_name(self, i: int) -> str:
        raise NotImplementedError

    def _open(self, tmp: Path):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        elif self._ctx is not None:
            self._file.close()
            self._ctx.__exit__(*exc)          # atomic_path removes its temp file
            self._file = self._ctx = None
        return False

    def _writer(self):
        """The open shard's writer (a new shard is opened when none is)."""
        if self._file is None:
            from manifests.io import atomic_path

            self._ctx = atomic_path(self.dir / self.shard_name(len(self.names)), self.suffix)
            self._file = self._open(self._ctx.__enter__())
        return self._file

    def _counted(self) -> None:
        """One more row: a full shard is closed."""
        self._n += 1
        if self._n == self.size:
            self.close()

    def close(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._ctx.__exit__(None, None, None)
        self.names.append(self.shard_name(len(self.names)))
        self._file = self._ctx = None
        self._n = 0


class ParquetShards(AtomicShards):
    """Parquet shards named ``name(i)``. Rows are buffered one row group at a time, so memory holds
    ``ROW_GROUP`` images, not a shard."""

    suffix = ".parquet"

    def __init__(self, directory: Path, schema, size: int | None, name):
        super().__init__(directory, size)
        self.schema, self.name = schema, name
        self._rows: list[dict] = []

    def shard_name(self, i: int) -> str:
        return self.name(i)

    def _open(self, tmp: Path):
        import pyarrow.parquet as pq

        return pq.ParquetWriter(tmp, self.schema, compression="zstd")

    def add(self, row: dict) -> None:
        self._rows.append(row)
        if len(self._rows) == ROW_GROUP:
            self._flush()
        self._counted()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer().write_table(pa.Table.from_pylist(self._rows, schema=self.schema), row_group_size=ROW_GROUP)
            self._rows = []

    def close(self) -> None:
        self._flush()
        super().close()

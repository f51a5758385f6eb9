"""Helpers the format modules share: JSON-safe rows, split groups, image bytes, licences, findings.

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


def image_suffix(path: str | None, data: bytes | None = None) -> str:
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


def counts(table: pa.Table, column: str) -> dict[str, int]:
    """``{value: rows}`` of a string column, nulls as ``"(none)"``, most frequent first."""
    vc = table[column].value_counts().to_pylist()
    pairs = [((d["values"] if d["values"] is not None else "(none)"), d["counts"]) for d in vc]
    return dict(sorted(pairs, key=lambda p: (-p[1], str(p[0]))))


def label_source_counts(table: pa.Table) -> dict[str, int]:
    """``{label_source: label entries}`` over the whole table."""
    flat = table["labels"].combine_chunks().flatten()
    if not len(flat):
        return {}
    vc = flat.field("label_source").value_counts().to_pylist()
    return {(d["values"] or "(none)"): d["counts"] for d in sorted(vc, key=lambda d: -d["counts"])}


def phi_summary(table: pa.Table) -> dict[str, dict[str, int]]:
    """``{where: {kind: detections}}`` plus how many were redacted (never the identifier text)."""
    out: dict[str, dict[str, int]] = {}
    for flags in table["phi_flags"].to_pylist():
        for f in flags or []:
            d = out.setdefault(f.get("where") or "unknown", {})
            d[f.get("kind") or "other"] = d.get(f.get("kind") or "other", 0) + 1
            if f.get("redacted"):
                d["redacted"] = d.get("redacted", 0) + 1
    return out


_HF_CC = re.compile(r"cc-by(-nc)?(-nd)?(-sa)?-\d\.\d")


def hf_license(name: str | None) -> str:
    """A manifest licence name as a Hugging Face Hub licence id (``other`` when there is none)."""
    if not name:
        return "unknown"
    s = re.sub(r"[\s_]+", "-", name.strip().lower())
    if s in ("cc0", "cc0-1.0", "cc-zero"):
        return "cc0-1.0"
    if _HF_CC.fullmatch(s):
        return s
    if s in ("mit", "apache-2.0", "odbl", "pddl", "odc-by"):
        return s
    return "other"


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


def describe(table: pa.Table) -> dict:
    """What a dataset card / Croissant's responsible-AI fields say about the exported rows.

    ``licences`` ``{name: {rows, url, attribution}}``; ``label_sources`` ``{source: entries}``;
    ``phi`` ``{where: {kind: detections, redacted: n}}``; ``synthetic`` rows and ``generators``;
    ``findings`` ``{finding: {state: rows}}`` (most trusted label source per row); ``sources``,
    ``modalities``, ``text_kinds`` counts; ``retrieved`` first/last retrieval time.
    """
    import pyarrow.compute as pc

    from manifests.schema import primary_labels

    lic: dict[str, dict] = {}
    for r in table.select(["license", "license_url", "attribution"]).to_pylist():
        d = lic.setdefault(r["license"] or "(none)", {"rows": 0, "url": r["license_url"], "attribution": set()})
        d["rows"] += 1
        d["url"] = d["url"] or r["license_url"]
        if r["attribution"] and len(d["attribution"]) < 5:
            d["attribution"].add(r["attribution"])
    for d in lic.values():
        d["attribution"] = sorted(d["attribution"])
    findings: dict[str, dict[str, int]] = {}
    for labels in table["labels"].to_pylist():
        for f, s in primary_labels(labels).items():
            findings.setdefault(f, {})
            findings[f][s] = findings[f].get(s, 0) + 1
    synthetic = table.filter(pc.fill_null(table["synthetic"], False))
    ts = table["retrieved_at"]
    return {
        "rows": table.num_rows,
        "licences": dict(sorted(lic.items(), key=lambda kv: -kv[1]["rows"])),
        "label_sources": label_source_counts(table),
        "phi": phi_summary(table),
        "synthetic": synthetic.num_rows,
        "generators": [g for g in counts(synthetic, "generator") if g != "(none)"] if synthetic.num_rows else [],
        "findings": {f: findings[f] for f in sorted(findings, key=lambda f: -findings[f].get("positive", 0))},
        "sources": counts(table, "source") if table.num_rows else {},
        "modalities": counts(table, "modality") if table.num_rows else {},
        "text_kinds": counts(table, "text_kind") if table.num_rows else {},
        "retrieved": [pc.min(ts).as_py(), pc.max(ts).as_py()] if ts.null_count < table.num_rows else None,
    }


def size_category(n: int) -> str:
    """The Hugging Face Hub's ``size_categories`` bucket for ``n`` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return label
    return "100M<n<1B"


def task_categories(table: pa.Table) -> list[str]:
    """Hub task categories the rows support: labels -> image-classification, text -> image-to-text and
    text-to-image, boxes -> object-detection."""
    import pyarrow.compute as pc

    tasks = []
    if pc.sum(pc.list_value_length(table["labels"])).as_py():
        tasks.append("image-classification")
    if pc.sum(pc.list_value_length(table["boxes"])).as_py():
        tasks.append("object-detection")
    if table["text"].null_count < table.num_rows:
        tasks += ["image-to-text", "text-to-image"]
    return tasks


def phi_statement(phi: dict) -> str:
    """One paragraph on identifier handling, with the counts (never the identifier text)."""
    base = ("Identifiers: DICOM header identifiers are never copied (patient ids are hashed); burned-in "
            "text is found with OCR and redacted in the stored image; report and caption text is scrubbed "
            "of names, dates, ids, ages, phone numbers and addresses. Only the kind and position of each "
            "detection is kept, never the identifier text.")
    if not phi:
        return base + " No identifier was detected in the exported rows."
    parts = []
    for where, kinds in sorted(phi.items()):
        red = kinds.get("redacted", 0)
        total = sum(v for k, v in kinds.items() if k != "redacted")
        detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()) if k != "redacted")
        parts.append(f"{where}: {plural(total, 'detection')} ({detail}), {red} redacted")
    return base + " Detections in the exported rows: " + "; ".join(parts) + "."


def plural(n: int, word: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


#: rows per Parquet row group for image rows (large rows; small groups keep readers' memory low)
ROW_GROUP = 64


class ParquetShards:
    """Parquet files of at most ``size`` rows (``None``: one file), named ``name(i)``, each atomic.

    Rows are buffered one row group at a time, so memory holds ``ROW_GROUP`` images, not a shard.
    Used as a context manager: on an exception the file being written is removed, never left half.
    """

    def __init__(self, directory: Path, schema, size: int | None, name):
        self.dir, self.schema, self.size, self.name = Path(directory), schema, size, name
        self.names: list[str] = []
        self._rows: list[dict] = []
        self._writer = self._ctx = None
        self._n = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        elif self._ctx is not None:
            self._writer.close()
            self._ctx.__exit__(*exc)          # atomic_path removes its temp file
            self._writer = self._ctx = None
        return False

    def add(self, row: dict) -> None:
        self._rows.append(row)
        self._n += 1
        if len(self._rows) == ROW_GROUP or self._n == self.size:
            self._flush()
        if self._n == self.size:
            self.close()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from manifests.io import atomic_path

        if not self._rows:
            return
        if self._writer is None:
            self._ctx = atomic_path(self.dir / self.name(len(self.names)), ".parquet")
            self._writer = pq.ParquetWriter(self._ctx.__enter__(), self.schema, compression="zstd")
        self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema), row_group_size=ROW_GROUP)
        self._rows = []

    def close(self) -> None:
        self._flush()
        if self._writer is None:
            return
        self._writer.close()
        self._ctx.__exit__(None, None, None)
        self.names.append(self.name(len(self.names)))
        self._writer = self._ctx = None
        self._n = 0

"""The raw store: what crawlers, importers and the sample generator write, and curation reads.

Layout::

    <data>/raw/<source>/files/...        downloaded / generated files
    <data>/raw/<source>/items.jsonl      one JSON object per image-text pair (see RawItem)
    <data>/raw/<source>/stats.json       written last: counts per status; doubles as "done"

Items are appended one line at a time and flushed, so a killed run leaves at most one partial
last line, which :class:`RawStore` drops when it re-opens the store; a re-run skips ids already
written with ``status == "ok"`` (resume).

``RawItem.provenance_required`` carries the source's declaration (``SourceSpider.provenance_required``,
set by the crawler engine; False for importers and the sample) into the record, where
``manifests.ops.validate`` requires ``source_url``, ``retrieved_at``, ``license`` and ``license_url``.
Items written before the field existed read it as False.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from manifests.errors import ManifestError, UsageError
from manifests.jsonl import complete_lines, open_append
from manifests.schema import make_key


@dataclasses.dataclass
class RawItem:
    """One image-text pair as a source delivered it (before curation)."""

    source: str
    source_id: str
    file: str | None = None              # relative to the source dir, or absolute (importers)
    sha256: str | None = None
    text: str | None = None
    text_kind: str | None = None          # report | caption | description
    license: str | None = None
    license_url: str | None = None
    attribution: str | None = None
    provenance_required: bool = False     # the source declares that records need full provenance
    source_url: str | None = None
    retrieved_at: str | None = None       # ISO 8601, UTC
    patient_id: str | None = None
    study_id: str | None = None
    modality: str | None = None
    body_part: str | None = None
    view: str | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict)   # finding -> state
    label_source: str | None = None       # dataset | ner | human | model
    boxes: list[dict] = dataclasses.field(default_factory=list)      # {label, x, y, w, h[, polygon]}: raw-file pixels
    split: str | None = None              # the dataset's official split, if any
    meta: dict = dataclasses.field(default_factory=dict)
    status: str = "ok"
    error: str | None = None

    @property
    def key(self) -> str:
        return make_key(self.source, self.source_id)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: dict) -> "RawItem":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ManifestError(f"raw item {d.get('source_id')!r} has unknown field(s) {sorted(unknown)}")
        return cls(**d)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RawStore:
    """Append-only writer/reader of one source's raw store."""

    def __init__(self, data_dir: str | os.PathLike, source: str):
        if not source or "/" in source or source.startswith("."):
            raise UsageError(f"source name {source!r} is not a valid directory name")
        self.source = source
        self.root = Path(data_dir) / "raw" / source
        self.files_dir = self.root / "files"
        self.items_path = self.root / "items.jsonl"
        self.stats_path = self.root / "stats.json"
        self._fh = None
        self._roots: list[Path] | None = None

    # -- reading ------------------------------------------------------------------------
    def iter_items(self) -> Iterator[RawItem]:
        """Every complete item line; a partial last line (a killed writer) is ignored."""
        for lineno, raw in complete_lines(self.items_path):
            if not raw.strip():
                continue
            try:
                d = json.loads(raw)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{self.items_path}:{lineno}: not JSON ({err})") from err
            yield RawItem.from_dict(d)

    def latest(self) -> dict[str, RawItem]:
        """The last item written for each source_id (a retry appends a newer line)."""
        out: dict[str, RawItem] = {}
        for item in self.iter_items():
            out[item.source_id] = item
        return out

    def done_ids(self) -> set[str]:
        return {sid for sid, it in self.latest().items() if it.status == "ok"}

    def roots(self) -> list[Path]:
        """Where this store's item files may be: the store, plus the dataset root a local import recorded."""
        roots = [self.root]
        try:
            imported = json.loads(self.stats_path.read_text(encoding="utf-8")).get("root")
        except (OSError, ValueError, AttributeError):
            imported = None
        if isinstance(imported, str) and Path(imported).is_absolute():
            roots.append(Path(imported))
        return roots

    def resolve(self, item: RawItem, name: str | None = None) -> Path | None:
        """Absolute path of the item's file (or of ``name``, e.g. ``meta["text_file"]``).

        Raises :class:`manifests.paths.OutsideRoot` when it points outside :meth:`roots`
        (``../../etc/passwd``, an absolute path elsewhere, a symlink out of the store): never read.
        Under an imported dataset root, a user's own symlinks may point elsewhere (only ``..`` and
        absolute paths are judged there).
        """
        from manifests.paths import OutsideRoot, contained

        rel = item.file if name is None else name
        if not rel:
            return None
        if self._roots is None:
            self._roots = self.roots()
        what = f"{item.source}:{item.source_id}: file"
        try:
            return contained(rel, self._roots[:1], what=what)
        except OutsideRoot:
            if len(self._roots) == 1:
                raise
        try:
            return contained(rel, self._roots[1:], what=what, follow_symlinks=False)
        except OutsideRoot:
            raise OutsideRoot(f"{what} '{rel}' is outside '{self._roots[0]}' and the imported dataset root "
                              f"'{self._roots[1]}': refused (paths must stay inside their root)") from None

    def shard(self, name: str) -> "RawStore":
        """Shard ``name`` of this store (a distributed crawl's unit of work and of resume): its own
        ``shards/<name>/items.jsonl`` + ``stats.json`` (the shard's "done" marker), the common
        ``files/`` tree (so paths in items are the same as a one-machine crawl's)."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"shard name {name!r} is not a valid directory name")
        s = RawStore(self.root.parent.parent, self.source)
        s.items_path = self.root / "shards" / name / "items.jsonl"
        s.stats_path = self.root / "shards" / name / "stats.json"
        return s

    # -- writing ------------------------------------------------------------------------
    def open(self) -> "RawStore":
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.items_path.parent.mkdir(parents=True, exist_ok=True)  # a shard's own directory
        self._fh = open_append(self.items_path)
        return self

    def append(self, item: RawItem) -> None:
        if self._fh is None:
            raise RuntimeError("RawStore.append() before open()")
        if item.source != self.source:
            raise ValueError(f"item of source {item.source!r} written to store {self.source!r}")
        self._fh.write(item.to_json() + "\n")
        self._fh.flush()

    def close(self, stats: dict | None = None) -> dict:
        """Close the item file and write ``stats.json`` (counts per status + ``stats``)."""
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        counts = Counter(it.status for it in self.latest().values())
        summary = {"source": self.source, "items": sum(counts.values()), "status": dict(counts), **(stats or {})}
        from manifests.io import write_json_atomic

        write_json_atomic(self.stats_path, summary)
        return summary

    def __enter__(self) -> "RawStore":
        return self.open()

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def find_stores(path: str | os.PathLike) -> list[RawStore]:
    """Raw stores under ``path``: ``<data>``, ``<data>/raw`` or ``<data>/raw/<source>``."""
    p = Path(path)
    if (p / "items.jsonl").exists():
        return [RawStore(p.parent.parent, p.name)]
    raw = p / "raw" if (p / "raw").is_dir() else p
    stores = [RawStore(raw.parent, d.name) for d in sorted(raw.iterdir()) if (d / "items.jsonl").exists()] if raw.is_dir() else []
    if not stores:
        raise UsageError(f"no raw store (raw/<source>/items.jsonl) under '{path}'")
    return stores

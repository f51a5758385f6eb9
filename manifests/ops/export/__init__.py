"""Manifest exports: one module per format, each declaring one :class:`Exporter` subclass.

A format is declared once, where it is written: a module in this package with a subclass of
:class:`Exporter` whose ``name`` is the ``--format`` value. :func:`formats` walks the package's
modules (those not starting with ``_``), like ``crawlers.registry.sources()`` walks the spiders,
collects the subclasses each defines (two with one name: ``RuntimeError``) and returns the
registry; :func:`export` looks a name up
through :func:`manifests.registry.lookup` (an unknown name is a usage error with a "did you mean").
So a new format is one new module, and the CLI help and the README list come from the registry.

Format modules import only the standard library at import time (pyarrow, Pillow inside
``write``), so ``medharvest --help`` can list the formats instantly. The libraries users open the
exports with (``datasets``, ``webdataset``, ``monai``, ``mlcroissant``, ``pycocotools``) are never
needed to write them; the tests read every export back with them.

**Reads** a manifest table whose ``image_path`` values are relative to ``ExportContext.images_root``.
**Writes** (atomically, file by file) the format's file or directory and returns a summary dict:
``rows`` written, ``skipped`` (per reason: image formats skip rows without a readable image or with
a status other than ``ok``), ``format`` and ``out``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from manifests.errors import UsageError
from manifests.registry import declared_classes, lookup

if TYPE_CHECKING:
    import pyarrow as pa

@dataclass(frozen=True)
class ExportContext:
    """What an exporter needs besides the rows."""

    images_root: Path                      #: directory the table's ``image_path`` values are relative to
    name: str = "medharvest-manifest"      #: dataset name (cards, Croissant, COCO info)
    meta: dict = field(default_factory=dict)   #: the manifest's ``medharvest`` metadata (split seed, ...)
    shard_size: int = 1000                 #: rows per shard (hf Parquet files, webdataset tars)

    def __post_init__(self):
        if self.shard_size < 1:
            raise UsageError(f"shard size {self.shard_size} must be at least 1")


class Exporter:
    """One export format. Subclasses set the class attributes and implement :meth:`write`."""

    #: the ``--format`` value
    name: ClassVar[str]
    #: one line for ``--help`` and the README export section
    summary: ClassVar[str]
    #: what opens the output (shown in the README)
    opens_with: ClassVar[str]
    #: file suffixes that select this format when ``--format`` is omitted (file outputs only)
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: True: ``--out`` is a directory the format fills; False: ``--out`` is one file
    directory: ClassVar[bool] = True

    def write(self, table: pa.Table, out: Path, ctx: ExportContext) -> dict:
        """Write ``table`` to ``out`` (a file or a directory, see :attr:`directory`); return a summary."""
        raise NotImplementedError


@functools.cache
def formats() -> dict[str, type[Exporter]]:
    """``--format`` name -> exporter class, from the package's format modules, sorted by name."""
    return declared_classes(__name__, Exporter, "export formats",
                            skip=lambda name: name.rsplit(".", 1)[-1].startswith("_"))


def format_for(out: str | os.PathLike, fmt: str | None = None) -> type[Exporter]:
    """The exporter for ``fmt``, or for ``out``'s suffix when ``fmt`` is None.

    Usage errors (before any work): unknown format ("did you mean"), no suffix and no format, or a
    directory format whose ``out`` is an existing file.
    """
    cls = _pick(out, fmt)
    if cls.directory and Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out '{out}' is a file; the {cls.name} export writes a directory")
    return cls


def _pick(out: str | os.PathLike, fmt: str | None) -> type[Exporter]:
    registry = formats()
    if fmt:
        return lookup(registry, fmt, "export format")
    suffix = Path(out).suffix.lower()
    by_suffix = {s: cls for cls in registry.values() for s in cls.suffixes}
    if suffix in by_suffix:
        return by_suffix[suffix]
    if not suffix:
        raise UsageError(f"--out '{out}' has no suffix; give --format ({', '.join(sorted(registry))})")
    return lookup(registry, suffix.lstrip("."), "export format")


def export(table: pa.Table, out: str | os.PathLike, fmt: str | None = None, *,
           ctx: ExportContext | None = None) -> dict:
    """Export ``table`` as ``fmt`` (or by ``out``'s suffix) to ``out``; returns the format's summary.

    ``ctx.images_root`` defaults to the current directory (``image_path`` relative to it).
    """
    cls = format_for(out, fmt)
    out = Path(out)
    if ctx is None:
        ctx = ExportContext(images_root=Path.cwd())
    summary = cls().write(table, out, ctx)
    return {"format": cls.name, "out": str(out), **summary}


def markdown_table() -> str:
    """The README's export table, from the registry (a test keeps the README equal to it)."""
    lines = ["| `--format` | `--out` | what it writes | opens with |", "| --- | --- | --- | --- |"]
    for name, cls in formats().items():
        lines.append(f"| `{name}` | {'directory' if cls.directory else 'file'} | {cls.summary} | `{cls.opens_with}` |")
    return "\n".join(lines) + "\n"

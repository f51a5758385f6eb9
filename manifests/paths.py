"""Paths that stay inside their root: every file a stage reads from a record or raw item goes through here.

A record's ``image_path`` is relative to the manifest's folder, a raw item's ``file`` to its store
(or, for a local import, to the dataset root the import recorded). A derived manifest (split,
filter, merge: written elsewhere, ``image_path`` rebased with ``../``) may also point into the image
stores it was derived from, recorded as ``image_roots`` in its metadata (:func:`image_roots`; a
listed folder counts only if it holds a manifest, so a crafted list cannot open ``/``). ``../../etc/passwd``, an absolute
path elsewhere, or a symlink out of the root is refused with :class:`OutsideRoot` (a ``ValueError``:
one record's problem, kept as that record's error), never read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class OutsideRoot(ValueError):
    """A path from a record points outside the folder it must stay in."""


def contained(path: str | os.PathLike, roots: Path | Iterable[Path], *, what: str = "file",
              follow_symlinks: bool = True) -> Path:
    """``path`` (relative to the first root, or absolute) resolved, symlinks followed; it must lie under
    one of ``roots``, else :class:`OutsideRoot` names the path and the allowed folder(s).

    ``follow_symlinks=False``: ``..`` and absolute paths are still judged, but a symlink inside a root
    may point anywhere (a user's own dataset folder, linked in)."""
    roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
    norm = (lambda q: Path(q).resolve()) if follow_symlinks else (lambda q: Path(os.path.abspath(q)))
    resolved = [norm(r) for r in roots]
    p = Path(path)
    full = norm(p if p.is_absolute() else resolved[0] / p)
    for r in resolved:
        if full == r or full.is_relative_to(r):
            return full
    allowed = " or ".join(f"'{r}'" for r in resolved)
    raise OutsideRoot(f"{what} '{path}' is outside {allowed}: refused (paths must stay inside their root)")


def image_roots(manifest: str | os.PathLike) -> list[Path]:
    """Where a manifest's images may be: its own folder, then each recorded ``image_roots`` folder that
    holds a manifest (``*.parquet``) itself."""
    from manifests.io import read_meta, resolve_manifest

    path = resolve_manifest(manifest)
    roots = [path.parent.resolve()]
    for r in read_meta(path).get("image_roots") or []:
        p = Path(r) if isinstance(r, str) else None
        if p is not None and p.is_absolute() and p.is_dir() and p.resolve() != Path(p.anchor) and any(p.glob("*.parquet")):
            roots.append(p.resolve())
    return roots

"""What every importer shares: finding files under ROOT, reading CSVs row by row, the run loop.

An importer module defines ``SOURCE`` (the raw store name), ``check(root) -> plan`` (reads only
headers and file names; raises :class:`UsageError` for a missing required file or column, before
any work) and ``iter_items(plan) -> Iterator[RawItem]`` (one item per image; per-row problems are
items with ``status="error"``). :func:`run_import` drives them.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from manifests.errors import UsageError
from manifests.raw import RawStore, now_iso
from manifests.registry import did_you_mean

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")


class FileIndex:
    """Every file under a root, by name (one walk). The first path in sorted walk order wins."""

    def __init__(self, root: Path):
        self.root = root
        self.by_name: dict[str, Path] = {}
        self.repeated: Counter = Counter()
        seen_dirs: set[tuple[int, int]] = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            st = os.stat(dirpath)
            if (st.st_dev, st.st_ino) in seen_dirs:     # a symlink loop or a second link to a folder
                dirnames.clear()
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            dirnames.sort()
            for name in sorted(filenames):
                if name in self.by_name:
                    self.repeated[name] += 1
                    continue
                self.by_name[name] = Path(dirpath) / name

    def get(self, *names: str) -> Path | None:
        for n in names:
            if n in self.by_name:
                return self.by_name[n]
        return None

    def matching(self, pattern: str) -> list[Path]:
        """Paths whose file name matches the regular expression ``pattern`` (full match), sorted."""
        rx = re.compile(pattern, re.I)
        return sorted((p for n, p in self.by_name.items() if rx.fullmatch(n)), key=lambda p: (len(p.parts), str(p)))


def open_text(path: Path) -> io.TextIOBase:
    """A text handle on a .csv / .txt file or its .gz (utf-8, BOM tolerated, newline='' for csv)."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_header(path: Path) -> list[str]:
    with open_text(path) as fh:
        try:
            return next(csv.reader(fh))
        except StopIteration:
            raise UsageError(f"'{path}' is empty (no CSV header)") from None
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as err:
            raise UsageError(f"'{path}': cannot read the CSV header ({err})") from err


def require_columns(path: Path, columns: Iterable[str], required: Iterable[str]) -> None:
    have = list(columns)
    missing = [c for c in required if c not in have]
    if missing:
        hint = did_you_mean(missing[0], have)
        raise UsageError(f"'{path.name}' lacks required column(s) {missing}{hint}")


def iter_rows(path: Path, columns: list[str], *, trailing_comma_ok: bool = True) -> Iterator[tuple[int, dict | None, str | None, list]]:
    """``(line_number, row_dict_or_None, error_or_None, raw_fields)`` per data line (header skipped).

    A line with the wrong number of fields, or one the csv module cannot parse, yields an error
    instead of a row; reading goes on.
    """
    with open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            next(reader)
        except StopIteration:
            return
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield reader.line_num, None, f"{path.name} line {reader.line_num}: malformed CSV ({err})", []
                continue
            if not fields or all(not f.strip() for f in fields):
                continue
            if trailing_comma_ok and len(fields) == len(columns) + 1 and fields[-1] == "":
                fields = fields[:-1]
            if len(fields) != len(columns):
                yield (reader.line_num, None,
                       f"{path.name} line {reader.line_num}: malformed line with {len(fields)} fields, expected {len(columns)}",
                       fields)
                continue
            yield reader.line_num, dict(zip(columns, fields)), None, fields


def run_import(module, root: str | os.PathLike, out_dir: str | os.PathLike, *,
               progress: Callable[[Iterable, int | None], Iterable] = lambda it, total: it) -> dict:
    """Check ``root`` for ``module`` (UsageError before any work), then write its raw store."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise UsageError(f"dataset root '{root}' is not a directory")
    plan = module.check(root)
    store = RawStore(out_dir, module.SOURCE)
    done = store.done_ids()
    seen: set[str] = set()
    counts: Counter = Counter()
    first_errors: list[str] = []
    with store:
        for item in progress(module.iter_items(plan), getattr(plan, "total", None)):
            if item.source_id in seen:
                counts["duplicate_rows"] += 1
                continue
            seen.add(item.source_id)
            if item.source_id in done:
                counts["skipped_done"] += 1
                continue
            if item.retrieved_at is None:
                item.retrieved_at = now_iso()
            store.append(item)
            counts["written"] += 1
            if item.status != "ok" and len(first_errors) < 5:
                first_errors.append(f"{item.source_id}: {item.error}")
    extra = getattr(plan, "stats", {})
    return store.close({"root": str(root), **dict(counts), **extra, "first_errors": first_errors})

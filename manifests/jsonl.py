"""Append-only JSONL logs that survive a killed writer (the raw store's ``items.jsonl``, the
curation journal): one JSON object per line, appended and flushed line by line.

A process killed mid-write leaves a partial last line. Readers skip it (:func:`complete_lines`);
a writer cuts it before appending (:func:`open_append`), so the next line starts clean and the
log never holds two objects glued together. Nothing here parses JSON: callers decide what a bad
complete line means (the raw store refuses it, the journal skips it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def complete_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line)`` for every newline-terminated line; stops at a partial last line."""
    p = Path(path)
    if not p.exists():
        return
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                return  # a killed writer's unfinished last line
            yield lineno, raw


def drop_partial_line(path: str | os.PathLike) -> None:
    """Cut a killed writer's unfinished last line (scanning back from the end, block by block)."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return
    with open(p, "r+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        fh.seek(end - 1)
        if fh.read(1) == b"\n":
            return
        pos = end
        while pos > 0:
            start = max(0, pos - (1 << 16))
            fh.seek(start)
            cut = fh.read(pos - start).rfind(b"\n")
            if cut >= 0:
                fh.truncate(start + cut + 1)
                return
            pos = start
        fh.truncate(0)  # no complete line at all


def open_append(path: str | os.PathLike) -> TextIO:
    """The log opened for appending (utf-8), after cutting a partial last line."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    drop_partial_line(path)
    return open(path, "a", encoding="utf-8")

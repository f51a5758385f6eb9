"""Terminal output of commands: progress and the closing summary table (quiet-aware)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def progress(it: Iterable[T], *, total: int | None = None, desc: str = "", quiet: bool = False) -> Iterable[T]:
    """tqdm progress bar on stderr unless ``quiet`` (or stderr is not a terminal)."""
    if quiet or not sys.stderr.isatty():
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="it", leave=False)


def summary_table(title: str, rows: Mapping[str, Any], *, quiet: bool = False) -> None:
    """Print a two-column table of a stage summary to stdout (a JSON line when quiet)."""
    if quiet:
        print(json.dumps({"title": title, **{k: v for k, v in rows.items()}}, default=str, sort_keys=True))
        return
    flat = {k: (json.dumps(v, default=str, sort_keys=True) if isinstance(v, (dict, list)) else v) for k, v in rows.items()}
    width = max([len(str(k)) for k in flat] + [len(title)])
    print(title)
    print("-" * (width + 2))
    for k, v in flat.items():
        print(f"{str(k):<{width}}  {v}")

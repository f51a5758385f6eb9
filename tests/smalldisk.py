"""A real small disk for "disk full" tests: a tmpfs of a few hundred KB mounted on a test folder.

Needs root (``mount -t tmpfs``); tests skip with the reason elsewhere. No write is faked: the
kernel answers ENOSPC exactly as a full disk does.
"""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, size: str):
    """``path`` (created) becomes a tmpfs of ``size`` (``"600k"``) for the block; unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {proc.stderr.strip() or proc.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def grow(path: Path, size: str) -> None:
    """Make the tmpfs at ``path`` bigger (space freed), keeping its files."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)

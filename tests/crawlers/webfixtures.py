"""Shared helpers for the web-source crawl tests: fixture paths, raw-store checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from manifests.raw import RawStore

FIX = Path(__file__).parent / "fixtures"
FILES = FIX / "files"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def latest(out: Path, source: str) -> dict:
    return RawStore(out, source).latest()


def check_files(out: Path, source: str, expected: dict[str, bytes]) -> None:
    """Every expected id is ok, its file is on disk with exactly the served bytes, sha256 recorded."""
    store = RawStore(out, source)
    items = store.latest()
    for sid, data in expected.items():
        it = items[sid]
        assert it.status == "ok", (sid, it.error)
        path = store.resolve(it)
        assert path is not None and path.is_file(), sid
        assert path.read_bytes() == data, sid
        assert it.sha256 == sha256(data), sid
        assert it.retrieved_at and it.source_url and it.license, sid
    assert not list(store.files_dir.rglob("*.part")), "no partial files left"


def stats(out: Path, source: str) -> dict:
    return json.loads(RawStore(out, source).stats_path.read_text())

"""Where the real recorded responses are (``../shared/fixtures/sources/<source>/``; SOURCES.md says
where each came from); tests using them skip with the reason when the shared folder is absent."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import shared_path


def real(source: str, name: str | None = None) -> Path:
    """``real("pmc", "real_biopython_esearch2.xml")`` -> its path (skips the test when absent)."""
    return shared_path("fixtures", "sources", source, *([name] if name else []))


def real_bytes(source: str, name: str) -> bytes:
    return real(source, name).read_bytes()

"""Exceptions shared by every stage.

`UsageError` is a configuration or usage mistake: the CLI exits 2 before any work starts.
`StageError` is a failure of a whole stage (exit 1). Per-record problems are never exceptions
that escape a stage: they are data (``status`` + ``error`` on the record).
"""

from __future__ import annotations


class MedharvestError(Exception):
    """Base class of every error medharvest raises on purpose."""


class UsageError(MedharvestError, ValueError):
    """Bad configuration, flag, name or path: nothing was done (exit code 2)."""


class StageError(MedharvestError, RuntimeError):
    """A stage could not do its job as a whole (exit code 1)."""


class ManifestError(MedharvestError):
    """A manifest file cannot be read or written (wrong schema, missing file, ...)."""

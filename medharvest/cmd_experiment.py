"""`medharvest experiment` (being built; registers nothing yet)."""

from __future__ import annotations


def register(sub) -> None:
    return None

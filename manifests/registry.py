"""Name look-ups for the toolkit's registries (sources, importers, architectures, policies, ...).

Every registry is a plain dict; :func:`lookup` is the one way to read it, so a typo always gets
the same "unknown source 'gdcc'; did you mean 'gdc'?" answer.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

from manifests.errors import UsageError

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or a list of the choices."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in choices}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; choose from: {', '.join(choices)}" if choices else ""


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """``registry[name]`` or a :class:`UsageError` that names the closest key."""
    try:
        return registry[name]
    except KeyError:
        raise UsageError(f"unknown {what} '{name}'{did_you_mean(name, registry)}") from None

"""Typed, frozen stage configs: defaults in code < ``--config`` TOML < command-line flags.

Each stage defines a frozen dataclass of its settings. :func:`resolve` builds one from the three
layers and rejects unknown keys with a "did you mean".
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from manifests.errors import UsageError
from manifests.registry import did_you_mean

C = TypeVar("C")


def load_toml(path: str | Path | None, section: str) -> dict[str, Any]:
    """The ``[section]`` table of a TOML file (dots in ``section`` name nested tables)."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file '{path}' does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"config file '{path}' is not valid TOML: {err}") from err
    for part in section.split("."):
        data = data.get(part, {})
        if not isinstance(data, dict):
            raise UsageError(f"config file '{path}': [{section}] is not a table")
    return data


def resolve(cls: type[C], *, toml: dict[str, Any] | None = None, flags: dict[str, Any] | None = None,
            base: C | None = None) -> C:
    """Instantiate the dataclass ``cls``: defaults (or the values of ``base``, e.g. a named preset), then
    ``toml`` values, then non-None ``flags``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for layer, what in ((toml or {}, "config key"), ({k: v for k, v in (flags or {}).items() if v is not None}, "option")):
        for k, v in layer.items():
            name = k.replace("-", "_")
            if name not in fields:
                raise UsageError(f"unknown {what} '{k}'{did_you_mean(name, fields)}")
            values[name] = _coerce(v, hints[name], k)
    try:
        return dataclasses.replace(base, **values) if base is not None else cls(**values)
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from err


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if hint is Path or hint == Path | None:
        return Path(value)
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def as_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config (paths as strings)."""
    out = {}
    for k, v in dataclasses.asdict(cfg).items():
        out[k] = str(v) if isinstance(v, Path) else v
    return out

"""Name look-ups for the toolkit's registries (sources, importers, architectures, policies, ...).

Every registry is a plain dict; :func:`lookup` is the one way to read it, so a typo always gets
the same "unknown source 'gdcc'; did you mean 'gdc'?" answer. Registries are filled by discovery,
never by a list: :func:`package_modules` imports a package's modules (like Scrapy's spider
loader) and :func:`declared_classes` collects the classes declared in them (sources, captioners,
export formats); a second declaration of one name is a ``RuntimeError``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import ModuleType
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


def package_modules(package: str, *, skip: Callable[[str], bool] = lambda name: False) -> Iterator[ModuleType]:
    """Import and yield the modules of ``package`` (sub-packages not walked), except those whose full
    name ``skip`` refuses."""
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
        if not info.ispkg and not skip(info.name):
            yield importlib.import_module(info.name)


def declared_classes(package: str, base: type[T], what: str, *,
                     skip: Callable[[str], bool] = lambda name: False) -> dict[str, type[T]]:
    """The subclasses of ``base`` with a non-empty ``name`` defined (not merely imported) in the modules
    of ``package``, by name, sorted; ``RuntimeError`` naming both classes when two share a name (the
    second would silently shadow the first). ``what`` is the plural for that message ("sources")."""
    found: dict[str, type[T]] = {}
    for module in package_modules(package, skip=skip):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            name = getattr(cls, "name", None)
            if not (issubclass(cls, base) and cls.__module__ == module.__name__ and name):
                continue
            if name in found:
                raise RuntimeError(f"two {what} named {name!r}: {found[name].__module__}.{found[name].__qualname__} "
                                   f"and {module.__name__}.{cls.__qualname__}")
            found[name] = cls
    return dict(sorted(found.items()))

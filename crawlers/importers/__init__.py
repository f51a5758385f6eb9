"""Local importers: datasets a user already holds, turned into raw stores without copying images.

Reads a dataset's own files under ROOT (label CSVs, split lists, XML/TXT reports, JSON case files,
image files found in place). Writes ``<out>/raw/<name>/items.jsonl`` + ``stats.json`` (see :mod:`manifests.raw`):
one item per image, ``file`` = the absolute path of the user's image, labels in four states with
``label_source="dataset"`` (uncertain never collapsed), patient_id, study_id, view, the official
split in ``split`` (train / val / test), the dataset's other columns in ``meta``, and the dataset's
licence and attribution. A row with a problem (missing image, bad label value, malformed line) is
written with ``status="error"`` and a clear ``error``; a missing required file or column stops the
run with :class:`~manifests.errors.UsageError` before any work. A re-run skips ids already done.

Region annotations (``paip2019``) arrive as ``boxes`` in the raw file's pixels with an outline
``polygon``; ``curate run`` rescales them to the record image. Helpers: :mod:`~crawlers.importers.aperio`
(ImageScope XML), :mod:`~crawlers.importers.tiffinfo` (TIFF headers without decoding).

Public API: :data:`IMPORTERS` (name -> module), :func:`get` (look-up with "did you mean"),
:func:`listing` (name -> licence line, for ``import --list``), :func:`run` (check + import).

Writing an importer: one module ``crawlers/importers/<module>.py``, found by walking this package
(no list to edit). It must define

- a module docstring: the datasheet, with the words ``What``, ``Licence`` and ``Citation``;
- ``SOURCE``: the name users type, also the raw store's ``source`` (unique; two modules with one
  ``SOURCE`` are refused);
- ``LICENSE``, ``LICENSE_URL``, ``ATTRIBUTION``: the dataset's licence and credit line;
- ``check(root: Path) -> plan``: reads only headers and file names; raises ``UsageError`` for a
  missing required file or column, before any work (``plan.total`` / ``plan.stats`` optional);
- ``iter_items(plan) -> Iterator[RawItem]``: one item per image; a bad row is an item with
  ``status="error"`` and ``error``.

A module without ``SOURCE`` is a helper, not an importer (like :mod:`~crawlers.importers.base`).
The contract test ``tests/crawlers/test_importer_contract.py`` exercises every importer and fails
for one without a layout builder in ``tests/crawlers/importer_cases.py``.
"""

from __future__ import annotations

import os
from types import ModuleType

from crawlers.importers.base import run_import
from manifests.registry import lookup, package_modules


def discover(package: str = __name__) -> dict[str, ModuleType]:
    """The importer modules of ``package`` (those defining ``SOURCE``) by name, sorted."""
    found: dict[str, ModuleType] = {}
    for module in package_modules(package):
        name = getattr(module, "SOURCE", None)
        if not isinstance(name, str):
            continue
        if name in found:
            raise RuntimeError(f"two importers named {name!r}: {found[name].__name__} and {module.__name__}")
        found[name] = module
    return dict(sorted(found.items()))


#: Importer modules by the name users type (also the raw store's source name), discovered.
IMPORTERS: dict[str, ModuleType] = discover()


def listing() -> dict[str, str]:
    """``import --list``: per importer, its licence and the first line of its datasheet."""
    return {name: f"{(m.__doc__ or '').strip().splitlines()[0].replace('``', '')} [licence: {getattr(m, 'LICENSE', None)}]" for name, m in IMPORTERS.items()}


def get(name: str) -> ModuleType:
    return lookup(IMPORTERS, name, "importer")


def run(name: str, root: str | os.PathLike, out_dir: str | os.PathLike, **kw) -> dict:
    """Import dataset ``name`` from ``root`` into ``out_dir/raw/<name>``; returns the stats summary."""
    return run_import(get(name), root, out_dir, **kw)

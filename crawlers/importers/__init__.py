"""Local importers: datasets a user already holds, turned into raw stores without copying images.

Reads a dataset's own files under ROOT (label CSVs, split lists, XML/TXT reports, JSON case files,
image files found in place). Writes ``<out>/raw/<name>/items.jsonl`` + ``stats.json`` (see :mod:`manifests.raw`):
one item per image, ``file`` = the absolute path of the user's image, labels in four states with
``label_source="dataset"`` (uncertain never collapsed), patient_id, study_id, view, the official
split in ``split`` (train / val / test), the dataset's other columns in ``meta``, and the dataset's
licence and attribution. A row with a problem (missing image, bad label value, malformed line) is
written with ``status="error"`` and a clear ``error``; a missing required file or column stops the
run with :class:`~manifests.errors.UsageError` before any work. A re-run skips ids already done.

Public API: :data:`IMPORTERS` (name -> module), :func:`get` (look-up with "did you mean"),
:func:`run` (check + import). Each module's docstring is its dataset's datasheet.
"""

from __future__ import annotations

import os
from types import ModuleType

from crawlers.importers import chestxray14, chexpert, iu_xray, medpix2, mimic_cxr_jpg
from crawlers.importers.base import run_import
from manifests.registry import lookup

#: Importer modules by the name users type (also the raw store's source name).
IMPORTERS: dict[str, ModuleType] = {
    "chestxray14": chestxray14,
    "chexpert": chexpert,
    "mimic-cxr-jpg": mimic_cxr_jpg,
    "iu-xray": iu_xray,
    "medpix2": medpix2,
}


def get(name: str) -> ModuleType:
    return lookup(IMPORTERS, name, "importer")


def run(name: str, root: str | os.PathLike, out_dir: str | os.PathLike, **kw) -> dict:
    """Import dataset ``name`` from ``root`` into ``out_dir/raw/<name>``; returns the stats summary."""
    return run_import(get(name), root, out_dir, **kw)

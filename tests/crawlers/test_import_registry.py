"""The importer registry: names, datasheets, look-up, and the CLI's list of names."""

from __future__ import annotations

import pytest

from crawlers import importers
from manifests.errors import UsageError
from medharvest import cmd_import


def test_cli_names_match_the_registry():
    assert tuple(importers.IMPORTERS) == cmd_import.NAMES


@pytest.mark.parametrize("name", sorted(importers.IMPORTERS))
def test_each_importer_is_complete_and_documented(name):
    mod = importers.get(name)
    assert mod.SOURCE == name
    generic = getattr(mod, "GENERIC", False)    # a layout (class-per-folder), not a dataset: no source to name
    for attr in ("check", "iter_items", "LICENSE") + (() if generic else ("LICENSE_URL", "ATTRIBUTION")):
        assert getattr(mod, attr), attr
    doc = mod.__doc__
    assert "Licence" in doc and "Citation" in doc and "What" in doc   # the module docstring is the datasheet


@pytest.mark.parametrize("typo,suggestion", [("chestxray41", "chestxray14"), ("mimic", "mimic-cxr-jpg"),
                                             ("chexpret", "chexpert"), ("iu_xray", "iu-xray")])
def test_unknown_name_says_did_you_mean(typo, suggestion):
    with pytest.raises(UsageError, match=f"unknown importer '{typo}'; did you mean '{suggestion}'"):
        importers.get(typo)

"""The importer registry: names, datasheets, look-up, and the CLI's list of names."""

from __future__ import annotations

import pytest

from crawlers import importers
from manifests.errors import UsageError
from medharvest.cli import main


def test_import_list_is_the_registry(capsys):
    assert main(["import", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in importers.IMPORTERS)
    assert main(["import", "chexpert"]) == 2        # ROOT and --out missing: usage error


def test_discovery_refuses_two_importers_with_one_name(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_importers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("X = 1\n")                   # no SOURCE: a helper, not an importer
    (pkg / "one.py").write_text("SOURCE = 'dup'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert list(importers.discover("fake_importers")) == ["dup"]
    (pkg / "two.py").write_text("SOURCE = 'dup'\n")
    with pytest.raises(RuntimeError, match="two importers named 'dup'"):
        importers.discover("fake_importers")


@pytest.mark.parametrize("typo,suggestion", [("chestxray41", "chestxray14"), ("mimic", "mimic-cxr-jpg"),
                                             ("chexpret", "chexpert"), ("iu_xray", "iu-xray")])
def test_unknown_name_says_did_you_mean(typo, suggestion):
    with pytest.raises(UsageError, match=f"unknown importer '{typo}'; did you mean '{suggestion}'"):
        importers.get(typo)

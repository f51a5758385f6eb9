"""The importer contract, checked for every discovered importer (``crawlers.importers.IMPORTERS``).

An importer is one module in ``crawlers/importers/``; this test picks a new one up by itself and
fails until its layout exists in :mod:`tests.crawlers.importer_cases`. Per importer: the datasheet
and licence fields, usage errors before any work (no ROOT, an empty ROOT), then an import where bad
rows become ``status="error"`` items with a message while the good ones are ``ok`` with the
dataset's licence, and a re-run that resumes (everything skipped, nothing written twice).
"""

from __future__ import annotations

import pytest

from crawlers import importers
from manifests.errors import UsageError
from manifests.raw import RawStore
from tests.crawlers.importer_cases import CASES

NAMES = sorted(importers.IMPORTERS)


@pytest.mark.parametrize("name", NAMES)
def test_declaration_and_usage_errors(name, tmp_path):
    mod = importers.get(name)
    assert mod.SOURCE == name
    for attr in ("LICENSE", "LICENSE_URL", "ATTRIBUTION"):
        assert isinstance(getattr(mod, attr, None), str) and getattr(mod, attr), f"{name}: {attr}"
    assert callable(getattr(mod, "check", None)) and callable(getattr(mod, "iter_items", None))
    doc = mod.__doc__ or ""
    assert "What" in doc and "Licence" in doc and "Citation" in doc, f"{name}: the module docstring is the datasheet"
    with pytest.raises(UsageError):
        importers.run(name, tmp_path / "no-such-root", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError):
        importers.run(name, tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out" / "raw" / name / "items.jsonl").exists()        # nothing written


@pytest.mark.parametrize("name", NAMES)
def test_bad_rows_are_errors_and_a_rerun_resumes(name, tmp_path, shared):
    if name not in CASES:
        pytest.fail(f"importer {name!r} has no layout: add one to tests/crawlers/importer_cases.py")
    root = CASES[name](tmp_path, shared)
    first = importers.run(name, root, tmp_path / "out")
    store = RawStore(tmp_path / "out", name)
    items = store.latest()
    ok = [it for it in items.values() if it.status == "ok"]
    bad = [it for it in items.values() if it.status == "error"]
    assert ok and bad, (name, first)
    assert all(it.error for it in bad)
    for it in ok:
        assert it.license and it.retrieved_at, (name, it.source_id)     # per item (may differ from LICENSE)
        path = store.resolve(it)
        assert path is not None and path.is_file(), (name, it.source_id)
    second = importers.run(name, root, tmp_path / "out")
    # resumed: the ok items are skipped, only the failed ones are tried again
    assert second.get("skipped_done", 0) == len(ok) and second.get("written", 0) <= len(bad), (name, second)

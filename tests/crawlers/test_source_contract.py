"""The source contract, checked for every registered source (``crawlers.registry.sources()``).

A source is one module with one ``SourceSpider``; this test picks a new one up by itself and fails
until its crawl case exists in :mod:`tests.crawlers.source_cases`. Per source: a datasheet, access
terms and licence information, declared credentials and option names (an undeclared option is a
usage error with "did you mean"), then a loopback crawl where bad input becomes ``status="error"``
items while the run goes on, every item carries the provenance the source declares, and a re-run
resumes (finished items are skipped, not fetched again).
"""

from __future__ import annotations

import inspect
import json
import re
from collections import Counter

import pytest

from crawlers import registry
from crawlers.engine import crawl
from manifests.errors import UsageError
from manifests.raw import RawStore
from tests.crawlers.replay import ReplayServer
from tests.crawlers.source_cases import CASES

pytestmark = pytest.mark.timeout(240)

SOURCES = sorted(registry.sources())


@pytest.mark.parametrize("name", SOURCES)
def test_declaration(name, monkeypatch):
    cls = registry.spider_class(name)
    doc = inspect.getmodule(cls).__doc__ or ""
    assert len(doc.strip().split("\n\n")) >= 2, f"{name}: the module docstring is the datasheet (terms + details)"
    assert registry.terms(cls) != "(no datasheet)"
    assert re.search(r"licen[cs]e|public domain|CC0|CC BY|terms", doc, re.I), f"{name}: the datasheet names the licence"
    assert isinstance(cls.provenance_required, bool)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", env) for env in cls.credentials), cls.credentials
    for env in cls.credentials:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent/netrc")
    assert cls.credentials_present() is False              # nothing configured -> reported absent
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", o) for o in cls.option_names), cls.option_names
    if cls.option_names:
        typo = cls.option_names[0] + "x"
        with pytest.raises(UsageError, match=f"did you mean '{cls.option_names[0]}'"):
            registry.check_option_names(cls, {typo: "1"})
    with pytest.raises(UsageError, match="option"):
        crawl(name, "/nonexistent/out", options={"no_such_option_anywhere": 1})


@pytest.mark.parametrize("name", SOURCES)
def test_crawl_bad_input_and_resume(name, tmp_path, monkeypatch):
    if name not in CASES:
        pytest.fail(f"source {name!r} has no crawl case: add one to tests/crawlers/source_cases.py")
    cls = registry.spider_class(name)
    with ReplayServer(retry_after="0") as srv:
        case = CASES[name](srv, monkeypatch)
        kw = {"query": case.query, "options": case.options, "limit": case.limit, "base_url": srv.url()}
        first = crawl(name, tmp_path, **kw)
        store = RawStore(tmp_path, name)
        items = store.latest()
        ok = {sid for sid, it in items.items() if it.status == "ok"}
        bad = {sid: it for sid, it in items.items() if it.status == "error"}
        assert ok and bad, (name, first["status"])
        assert all(it.error for it in bad.values())                            # an error says what went wrong
        for sid in ok:
            it = items[sid]
            assert it.provenance_required is cls.provenance_required
            if cls.provenance_required:
                assert it.source_url and it.retrieved_at and it.license, (name, sid)
            assert store.resolve(it) is not None and store.resolve(it).is_file(), (name, sid)
        crawl(name, tmp_path, **kw)
    lines = [json.loads(line) for line in (store.root / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    written = Counter(d["source_id"] for d in lines)
    assert all(written[sid] == 1 for sid in ok), (name, written)   # resumed: finished items not fetched again
    assert {sid for sid, it in RawStore(tmp_path, name).latest().items() if it.status == "ok"} >= ok

"""The captioner contract, checked for every discovered captioner (``curation.caption.captioners()``).

A captioner is one module in ``curation/caption/``; this test picks a new one up by itself and fails
until its case exists in :mod:`tests.curation.caption_cases`. Per captioner: the datasheet (module
docstring), a versioned prompt, the "did you mean" look-up; then a run over a small manifest with one
broken input: every caption is ``text_kind="caption"`` with its provenance (captioner, model, weights
sha256 or endpoint, prompt version), the broken record's caption is ``status="error"`` with a message
while the others are captioned and the record itself stays ``ok``; a re-run redoes nothing that
succeeded (only the failed caption is tried again).
"""

from __future__ import annotations

import inspect

import pytest

from curation.caption.base import Captioner, captioners, discover, get_captioner
from curation.caption.run import caption_run
from manifests.errors import UsageError
from manifests.io import read_manifest
from tests.curation.caption_cases import CASES, N, manifest

NAMES = sorted(captioners())


def test_registry_is_the_package():
    assert NAMES and NAMES == sorted(discover("curation.caption"))
    assert all(get_captioner(n).name == n for n in NAMES)


def test_discovery_refuses_two_captioners_with_one_name(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_captioners"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    head = "from curation.caption.base import Captioner\n"
    (pkg / "helper.py").write_text(head + "class Half(Captioner):\n    pass\n")      # no name: not a captioner
    (pkg / "one.py").write_text(head + "from fake_captioners.helper import Half\n"
                                "class One(Captioner):\n    name = 'dup'\n")     # imported classes not counted twice
    monkeypatch.syspath_prepend(str(tmp_path))
    assert list(discover("fake_captioners")) == ["dup"]
    (pkg / "two.py").write_text(head + "class Two(Captioner):\n    name = 'dup'\n")
    with pytest.raises(RuntimeError, match="two captioners named 'dup'"):
        discover("fake_captioners")


@pytest.mark.parametrize("name", NAMES)
def test_declaration(name):
    cls = get_captioner(name)
    doc = (inspect.getmodule(cls).__doc__ or "").strip()
    assert doc.startswith(f"``{name}``"), f"{name}: the module docstring (datasheet) opens with ``{name}``"
    assert len([p for p in doc.split("\n\n") if p.strip()]) >= 2, f"{name}: datasheet of one paragraph"
    assert "prompt_version" in vars(cls) and cls.prompt_version, f"{name}: declare its own prompt_version"
    assert cls.caption_batch is not Captioner.caption_batch
    with pytest.raises(UsageError, match=f"did you mean '{name}'"):
        get_captioner(name + "x")


@pytest.mark.parametrize("name", NAMES)
def test_failure_provenance_and_resume(name, tmp_path, request):
    if name not in CASES:
        pytest.fail(f"captioner {name!r} has no case: add one to tests/curation/caption_cases.py")
    src = manifest(tmp_path / "in")
    case = CASES[name](src.parent, request)
    out = tmp_path / "out"
    first = caption_run(case.config, src, out)
    n_bad = 0 if case.fails is None else 1
    assert first["captioned"] == N and first["caption_status"] == {"ok": N - n_bad, **({"error": 1} if n_bad else {})}
    prov = {"captioner": name, "prompt_version": get_captioner(name).prompt_version, **case.provenance}
    assert first["provenance"] == prov
    assert prov["model"] is None or prov["weights_sha256"] or prov["endpoint"], "a model needs weights or endpoint"
    rows = {r["key"]: r for r in read_manifest(out).to_pylist()}
    for key, rec in rows.items():
        assert rec["status"] == "ok" and len(rec["captions"]) == 1, key      # the record keeps its own status
        cap = rec["captions"][0]
        assert cap["text_kind"] == "caption" and cap["created_at"], key
        assert {k: cap[k] for k in prov} == prov, key
        if key == case.fails:
            assert cap["status"] == "error" and case.error_match in (cap["error"] or "") and cap["text"] is None
        else:
            assert cap["status"] == "ok" and cap["text"] and not cap["error"], key
            assert all(lab["label_source"] == "caption" for lab in cap["labels"]), key
    again = caption_run(case.config, src, out)
    assert again["reused"] == N - n_bad and again["captioned"] == n_bad, again
    rows2 = {r["key"]: r for r in read_manifest(out).to_pylist()}
    for key in rows:
        if key != case.fails:      # reused as they were, not captioned again
            assert rows2[key]["captions"] == rows[key]["captions"], key
    if case.fails is None:
        assert case.why_total, f"{name}: say why no input can fail it"

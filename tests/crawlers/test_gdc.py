"""GDC source: parsers on the real recorded API responses; the spider end to end on a fake GDC."""

from __future__ import annotations

import json

import pytest

from crawlers import gdc
from crawlers.engine import crawl
from crawlers.engine.integrity import content_disposition_filename, safe_name
from manifests.errors import UsageError
from manifests.raw import RawStore
from tests.crawlers.gdc_catalog import TOKEN, FakeGDC
from tests.crawlers.replay import ReplayServer

FIX = ("fixtures", "sources", "gdc")


@pytest.mark.shared
def test_pagination_real_responses(shared):
    hits, pag = gdc.parse_page((shared(*FIX) / "files_from0_size2_sort_file_size_asc.json").read_bytes())
    assert len(hits) == 2 and hits[0]["access"] == "controlled"
    assert gdc.next_from(pag) == 2
    hits, pag = gdc.parse_page((shared(*FIX) / "files_fields_file_name_from101_size5.json").read_bytes())
    assert pag["page"] == 21 and gdc.next_from(pag) == 106
    assert gdc.next_from({"page": 3, "pages": 3, "from": 20, "size": 10}) is None


@pytest.mark.shared
def test_filters_object_or_json_string(shared):
    payload = json.loads((shared(*FIX) / "files_post_payload_example.json").read_text())
    as_obj = gdc.normalise_filters(payload["filters"])
    assert gdc.normalise_filters(json.dumps(payload["filters"])) == as_obj
    assert gdc.build_filters(None, {"filters": json.dumps(payload["filters"])}) == as_obj
    assert gdc.build_filters(json.dumps(payload["filters"]), {}) == as_obj
    with pytest.raises(UsageError, match="not JSON"):
        gdc.normalise_filters("{op: in")
    proj = gdc.build_filters("TCGA-BRCA,TCGA-LUAD", {})
    assert proj["content"][-1]["content"] == {"field": "cases.project.project_id", "value": ["TCGA-BRCA", "TCGA-LUAD"]}


@pytest.mark.shared
def test_case_clinical_fields_real_case(shared):
    case = json.loads((shared(*FIX) / "cases_uuid_1f601832_expand_diagnoses.json").read_text())["data"]
    info = gdc.case_info(case)
    assert info["primary_diagnosis"] == "Infiltrating duct carcinoma, NOS"
    assert info["stage"] == "Stage IIA" and info["submitter_id"] == "TCGA-BH-A0EA"
    text = gdc.describe(info)
    assert "Infiltrating duct carcinoma" in text and "Stage IIA" in text and "Not Reported" not in text


@pytest.mark.shared
def test_manifest_real_file(shared):
    rows = gdc.parse_manifest((shared(*FIX) / "gdc_manifest_svs_TCGA_example.txt").read_text())
    assert len(rows) == 12
    assert rows[0].id == "d74e8e4d-25c4-4e11-911c-9e77abb72854" and rows[0].size == 1688054259
    assert rows[0].md5 == "72b10ac65f6a230e7603574cb4ff05e0" and rows[0].filename.endswith(".svs")
    with pytest.raises(UsageError, match="columns"):
        gdc.parse_manifest("a\tb\n1\t2\n")


@pytest.mark.shared
def test_403_bodies_explained(shared):
    no_token = (shared(*FIX) / "error_403_no_access_specify_token.json").read_bytes()
    expired = (shared(*FIX) / "error_403_token_invalid_or_expired.json").read_bytes()
    assert "GDC_TOKEN" in gdc.error_hint(403, no_token)
    assert "invalid or expired" in gdc.error_hint(403, expired)


def test_content_disposition_names_are_sanitised():
    assert content_disposition_filename('attachment; filename="../../etc/passwd"') == "../../etc/passwd"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("/abs/x.svs") == "x.svs"
    assert safe_name("..") == "file" and safe_name("a\x00b.svs") == "a_b.svs"
    assert content_disposition_filename("attachment; filename*=UTF-8''caf%C3%A9.svs") == "café.svs"


def test_crawl_pairs_slides_with_reports(tmp_path, monkeypatch):
    monkeypatch.delenv("GDC_TOKEN", raising=False)
    fake = FakeGDC(5)
    with ReplayServer() as srv:
        fake.serve(srv)
        summary = crawl("gdc", tmp_path, base_url=srv.url(), query="TCGA-BRCA",
                        scrapy_settings={}, options={})
    assert summary["status"] == {"ok": 5}
    store = RawStore(tmp_path, "gdc")
    items = store.latest()
    for f in fake.slides():
        it = items[f["file_id"]]
        path = store.resolve(it)
        assert path.name == f["file_name"] and path.read_bytes() == fake.blobs[f["file_id"]]
        c = int(f["file_name"].split("-")[2])
        if c % 2 == 0:
            assert it.text_kind == "report" and f"Pathology report {c}" in it.text
        else:
            assert it.text_kind == "description" and "Infiltrating duct carcinoma" in it.text
        assert it.patient_id.startswith("TCGA-XX-") and it.modality == "SM" and it.meta["clinical"]["stage"]


def test_pagination_followed_and_limit(tmp_path):
    fake = FakeGDC(5)
    starts = []
    with ReplayServer() as srv:
        fake.serve(srv)
        endpoint = srv.find("/files").handler
        srv.add_handler("/files", lambda req: (starts.append((req.json()["from"], req.json()["size"])), endpoint(req))[1],
                        methods=("POST",))
        summary = crawl("gdc", tmp_path / "all", base_url=srv.url(), options={"page_size": 2})
        slide_pages = [s for s in starts if s[1] == 2]
        starts.clear()
        limited = crawl("gdc", tmp_path / "four", base_url=srv.url(), limit=3, options={"page_size": 2})
        limited_pages = [s for s in starts if s[1] == 2]
    assert summary["items"] == 5 and slide_pages == [(0, 2), (2, 2), (4, 2)]
    assert limited["items"] == 3 and limited_pages == [(0, 2), (2, 2)]


def test_controlled_file_without_and_with_bad_token(tmp_path, monkeypatch):
    monkeypatch.delenv("GDC_TOKEN", raising=False)
    fake = FakeGDC(3, controlled=1)
    with ReplayServer() as srv:
        fake.serve(srv)
        crawl("gdc", tmp_path / "a", base_url=srv.url())
        monkeypatch.setenv("GDC_TOKEN", "wrong-token")
        crawl("gdc", tmp_path / "b", base_url=srv.url())
        monkeypatch.setenv("GDC_TOKEN", TOKEN)
        crawl("gdc", tmp_path / "c", base_url=srv.url())
        sent = [h.get("X-Auth-Token") for _, p, h in srv.log if p.startswith("/data/")]
    controlled = next(f for f in fake.slides() if f["access"] == "controlled")["file_id"]
    a = RawStore(tmp_path / "a", "gdc").latest()[controlled]
    b = RawStore(tmp_path / "b", "gdc").latest()[controlled]
    c = RawStore(tmp_path / "c", "gdc").latest()[controlled]
    assert a.status == "error" and "GDC_TOKEN" in a.error
    assert b.status == "error" and "invalid or expired" in b.error
    assert c.status == "ok"
    assert TOKEN in sent
    for d in ("a", "b", "c"):
        root = tmp_path / d / "raw" / "gdc"
        assert TOKEN not in (root / "items.jsonl").read_text() and "wrong-token" not in (root / "items.jsonl").read_text()


def test_manifest_mode_and_md5_check(tmp_path, monkeypatch):
    monkeypatch.delenv("GDC_TOKEN", raising=False)
    fake = FakeGDC(4)
    slides = fake.slides()
    lines = ["id\tfilename\tmd5\tsize\tstate"]
    for i, f in enumerate(slides[:3]):
        md5 = f["md5sum"] if i else "0" * 32  # the first row's md5 disagrees with the GDC
        lines.append(f"{f['file_id']}\t{f['file_name']}\t{md5}\t{f['file_size']}\treleased")
    manifest = tmp_path / "gdc_manifest.txt"
    manifest.write_text("\n".join(lines) + "\n")
    with ReplayServer() as srv:
        fake.serve(srv)
        summary = crawl("gdc", tmp_path / "out", base_url=srv.url(), options={"manifest": str(manifest)})
    assert summary["status"] == {"ok": 2, "error": 1}
    items = RawStore(tmp_path / "out", "gdc").latest()
    assert set(items) == {f["file_id"] for f in slides[:3]}
    assert "md5" in items[slides[0]["file_id"]].error


def test_bad_manifest_is_a_usage_error(tmp_path):
    bad = tmp_path / "m.txt"
    bad.write_text("nope\n")
    with pytest.raises(UsageError):
        crawl("gdc", tmp_path, options={"manifest": str(bad)})


def test_slide_download_resumes_with_range(tmp_path, monkeypatch):
    monkeypatch.delenv("GDC_TOKEN", raising=False)
    fake = FakeGDC(1)
    with ReplayServer() as srv:
        fake.serve(srv)
        srv.add_handler("/data/", fake.data_endpoint, prefix=True, faults=["truncate"])
        summary = crawl("gdc", tmp_path, base_url=srv.url(), options={"reports": False})
        ranges = [h.get("Range") for _, p, h in srv.log if p.startswith("/data/")]
    assert summary["status"] == {"ok": 1} and summary["run"]["files_resumed"] == 1
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    it = next(iter(RawStore(tmp_path, "gdc").latest().values()))
    assert RawStore(tmp_path, "gdc").resolve(it).read_bytes() == fake.blobs[it.source_id]

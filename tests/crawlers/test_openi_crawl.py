"""Open-i end to end through --base-url against the loopback replay server (engine + pipeline)."""

from __future__ import annotations

import pytest

from crawlers.engine import crawl
from tests.crawlers.replay import ReplayServer, Response
from tests.crawlers.webfixtures import FILES, FIX, check_files, latest, stats

pytestmark = pytest.mark.timeout(180)   # a hung crawl fails the test instead of the suite

IMAGES = {
    "/imgs/512/1/1/CXR1_1_IM-0001-3001.png": ("CXR1_1_IM-0001-3001", "xray_a.png"),
    "/imgs/512/1/1/CXR1_1_IM-0001-4001.png": ("CXR1_1_IM-0001-4001", "xray_b.png"),
    "/imgs/512/2/2/CXR2_IM-0652-1001.png": ("CXR2_IM-0652-1001", "xray_c.png"),
}


def serve(srv: ReplayServer, *, search_faults=None, image_faults=None, image_always=None):
    seen = []

    def search(req):
        q = {k: v[0] for k, v in req.query.items()}
        seen.append(q)
        name = {"1": "search_cxr_m1.json", "3": "search_cxr_m3.json"}.get(q.get("m"))
        if q.get("coll") != "cxr" or name is None:
            return Response(404, b'{"error": "no such page"}', content_type="application/json")
        return Response(200, (FIX / "openi" / name).read_bytes(), content_type="application/json;charset=UTF-8")

    srv.add_handler("/api/search", search, faults=search_faults)
    for path, (_, f) in IMAGES.items():
        srv.add_file(path, FILES / f, content_type="image/png", faults=(image_faults or {}).get(path),
                     always=(image_always or {}).get(path))
    return seen


def test_openi_crawl_pages_downloads_and_writes_items(tmp_path):
    with ReplayServer(retry_after="1") as srv:
        seen = serve(srv, search_faults=["429", "html"],  # a 429 + Retry-After, then an HTML page with 200
                     image_faults={"/imgs/512/2/2/CXR2_IM-0652-1001.png": ["html", "truncate"]})
        summary = crawl("openi", tmp_path, query="normal", base_url=srv.url(),
                        options={"collection": "cxr", "page_size": 2})
        assert srv.hits["/api/search"] == 4                # 429, HTML error page, page m=1..2, page m=3..3
        assert srv.hits["/imgs/512/2/2/CXR2_IM-0652-1001.png"] == 3   # HTML error page, truncated, good
    assert [(q["m"], q["n"]) for q in seen[-2:]] == [("1", "2"), ("3", "3")]
    assert seen[-1]["query"] == "normal"
    check_files(tmp_path, "openi", {sid: (FILES / f).read_bytes() for sid, f in IMAGES.values()})
    items = latest(tmp_path, "openi")
    it = items["CXR2_IM-0652-1001"]
    assert it.file == "files/cxr/CXR2_IM-0652-1001.png"
    assert it.text.startswith("Comparison: None.\nIndication: Shortness of breath")
    assert it.license == "CC-BY-NC-ND-4.0" and it.study_id == "CXR2"
    assert it.meta["file_url"] == srv.url("/imgs/512/2/2/CXR2_IM-0652-1001.png")
    assert summary["status"] == {"ok": 3} == stats(tmp_path, "openi")["status"]


def test_openi_image_that_stays_an_error_page_is_recorded_failed_and_resume_refetches_it(tmp_path):
    bad = "/imgs/512/1/1/CXR1_1_IM-0001-4001.png"
    with ReplayServer() as srv:
        serve(srv, image_always={bad: "html"})
        crawl("openi", tmp_path, base_url=srv.url(), options={"page_size": 2})
        items = latest(tmp_path, "openi")
        assert items["CXR1_1_IM-0001-4001"].status == "error"
        assert "HTML" in items["CXR1_1_IM-0001-4001"].error or "html" in items["CXR1_1_IM-0001-4001"].error
        assert items["CXR1_1_IM-0001-4001"].file is None
        assert not (tmp_path / "raw/openi/files/cxr/CXR1_1_IM-0001-4001.png").exists()
        # the server recovers; a re-run fetches only what is missing
        srv.routes[bad].always = None
        hits_before = dict(srv.hits)
        crawl("openi", tmp_path, base_url=srv.url(), options={"page_size": 2})
        assert srv.hits[bad] == hits_before[bad] + 1
        for path in ("/imgs/512/1/1/CXR1_1_IM-0001-3001.png", "/imgs/512/2/2/CXR2_IM-0652-1001.png"):
            assert srv.hits[path] == hits_before[path]       # done files are not downloaded twice
    check_files(tmp_path, "openi", {sid: (FILES / f).read_bytes() for sid, f in IMAGES.values()})


def test_openi_limit_stops_paging(tmp_path):
    with ReplayServer() as srv:
        serve(srv)
        crawl("openi", tmp_path, base_url=srv.url(), limit=2, options={"page_size": 2})
        assert srv.hits["/api/search"] == 1
    assert sorted(latest(tmp_path, "openi")) == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]


def test_openi_bad_collection_is_a_usage_error(tmp_path):
    from manifests.errors import UsageError

    with pytest.raises(UsageError, match="did you mean 'cxr'"):
        crawl("openi", tmp_path, base_url="http://127.0.0.1:9", options={"collection": "cxrr"})

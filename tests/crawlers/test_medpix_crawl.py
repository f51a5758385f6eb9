"""MedPix end to end: real headless Chromium renders a loopback site whose content is built in JavaScript."""

from __future__ import annotations

import pytest

from crawlers.browser import BrowserMiddleware, missing_browser
from crawlers.engine import crawl
from tests.crawlers.replay import ReplayServer, Response
from tests.crawlers.webfixtures import FIX, check_files, latest

M = FIX / "medpix"
WHY = missing_browser()
pytestmark = [pytest.mark.chromium, pytest.mark.timeout(240),
              pytest.mark.skipif(WHY is not None, reason=WHY or "")]

IMAGES = {
    "synpic46283": ("/images/full/synpic46283.jpg", FIX / "files" / "figure_e.jpg"),
    "synpic46284": ("/images/full/synpic46284.jpg", FIX / "files" / "figure_f.jpg"),
    "synpic50001": ("/images/full/synpic50001.jpg", FIX / "files" / "photo_d.jpg"),
}


def serve(srv: ReplayServer, *, image_faults=None):
    srv.add_file("/search", M / "search.html", content_type="text/html; charset=utf-8")
    srv.add_file("/case", M / "case.html", content_type="text/html; charset=utf-8")
    srv.add_file("/js/medpix.js", M / "medpix.js", content_type="application/javascript")
    srv.add_file("/rest/search.json", M / "rest_search.json", content_type="application/json")

    def case(req):
        f = M / f"rest_case_{req.query.get('id', [''])[0]}.json"
        if not f.is_file():
            return Response(404, b'{"error": "case not found"}', content_type="application/json")
        return Response(200, f.read_bytes(), content_type="application/json")

    srv.add_handler("/rest/case.json", case)
    for sid, (path, f) in IMAGES.items():
        srv.add_file(path, f, content_type="image/jpeg", faults=(image_faults or {}).get(sid))


def no_browser_left(profile_root) -> bool:
    import subprocess

    left = subprocess.run(["pgrep", "-f", f"user-data-dir={profile_root}"], capture_output=True)
    return left.returncode == 1


def test_medpix_crawl_renders_cases_in_chromium_and_downloads_images(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))          # the browser profile lives under tmp_path
    with ReplayServer(retry_after="1") as srv:
        serve(srv, image_faults={"synpic46284": ["html"], "synpic50001": ["429"]})
        summary = crawl("medpix", tmp_path, query="pneumonia", base_url=srv.url())
        assert srv.hits["/rest/case.json"] == 3            # the browser ran the page's JavaScript
        assert srv.hits["/js/medpix.js"] >= 1
        assert srv.hits["/images/full/synpic46284.jpg"] == 2   # HTML error page with 200, then the image
    check_files(tmp_path, "medpix", {sid: f.read_bytes() for sid, (_, f) in IMAGES.items()})
    items = latest(tmp_path, "medpix")
    a = items["synpic46283"]
    assert a.text.splitlines()[0] == "History: Cough and fever for three days."
    assert a.meta["caption"].startswith("PA chest radiograph") and a.meta["plane"] == "PA"
    assert a.license == "MedPix-terms" and a.license_url == srv.url("/legal")
    assert a.study_id == "6e9ef54b-1c4e-4d3e-8f0f-2a6f3d9b1009"
    assert a.file == "files/6e9ef54b-1c4e-4d3e-8f0f-2a6f3d9b1009/synpic46283.jpg"
    gone = items["case-00000000-dead-4bad-8bad-000000000404"]
    assert gone.status == "error" and "HTTP 404" in gone.error
    assert summary["status"] == {"ok": 3, "error": 1}
    assert no_browser_left(tmp_path)                     # the driver quit with the spider
    assert not list(tmp_path.glob("medharvest-chromium-*"))   # and its profile is gone


def test_browser_middleware_waits_for_javascript_content_and_reports_timeouts(tmp_path, monkeypatch):
    import tempfile

    from scrapy import Request

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with ReplayServer() as srv:
        serve(srv)
        mw = BrowserMiddleware(timeout=10)
        try:
            url = srv.url("/case?id=b3a1c0de-7f22-4a55-9d10-5c3e8e7a2041")
            resp = mw.render(Request(url, meta={"browser": True, "browser_wait": "article#case"}))
            assert resp.status == 200 and b'class="case-title">Tension pneumothorax<' in resp.body
            # the raw shell has no case: fetched without the browser nothing is there
            assert b"Tension pneumothorax" not in (M / "case.html").read_bytes()
            resp = mw.render(Request(url, meta={"browser": True, "browser_wait": "#never", "browser_timeout": 1.5}))
            assert resp.status == 504 and "did not appear" in resp.meta["browser_error"]
            assert mw.pages == 2
        finally:
            mw.close()
        assert mw._driver is None
        assert no_browser_left(tmp_path) and not list(tmp_path.glob("medharvest-chromium-*"))

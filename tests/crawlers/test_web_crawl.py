"""The web source end to end against a loopback site: robots.txt, sitemap, depth, licences (page,
Commons per file, none), decorative images, per-host limits, resume, then curate."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crawlers.engine import crawl
from manifests.errors import UsageError
from tests.crawlers.replay import ReplayServer, Response
from tests.crawlers.webfixtures import latest, stats

pytestmark = pytest.mark.timeout(180)

WEB = Path(__file__).parent / "fixtures" / "web"
WIKI = "/upload/wikipedia/commons/thumb/a/a1/Chest_Xray_PA_3-8-2010.png/"


def png(w: int, h: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = (x * 255 // max(w, 1) // 2 + y * 255 // max(h, 1) // 2 + rng.integers(0, 40, (h, w))).clip(0, 255)
    buf = io.BytesIO()
    Image.fromarray(a.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


CXR = png(256, 256, 1)
IMAGES = {
    "/health/images/cxr-rll-pneumonia.png": CXR,
    "/health/images/cxr-rll-copy.png": CXR,                        # same bytes, another URL
    "/health/images/ct-effusion-400.png": png(200, 150, 2),
    "/health/images/ct-effusion-800.png": png(400, 300, 3),
    "/health/images/ct-effusion-1200.png": png(600, 450, 4),
    "/health/images/mri-thumb.png": png(40, 40, 5),                # tiny once downloaded
    "/private/patient-photo.jpg": png(300, 300, 6),
    "/media/our-hospital.jpg": png(300, 200, 7),
    "/static/eh-logo.png": png(180, 48, 8),
    "/static/icons/print.png": png(16, 16, 9),
    "/health/images/divider.png": png(600, 4, 10),
    "/health/images/spacer.gif": png(1, 1, 11),
    "/health/images/round-pneumonia.png": png(256, 256, 12),
    "/health/images/tb-cavity.png": png(256, 256, 13),
    "/health/images/tb-miliary.png": png(300, 300, 18),
    "/health/images/deep-case.png": png(256, 256, 14),
    WIKI + "250px-Chest_Xray_PA_3-8-2010.png": png(250, 250, 15),
    WIKI + "500px-Chest_Xray_PA_3-8-2010.png": png(500, 500, 16),
    "/upload/wikipedia/en/thumb/5/5f/Radiology_Journal_cover_2019.jpg/220px-Radiology_Journal_cover_2019.jpg": png(220, 290, 17),
}
PAGES = {"/health/index.html": "index.html", "/health/pneumonia.html": "pneumonia.html",
         "/health/nolicence.html": "nolicence.html", "/health/deep.html": "deep.html",
         "/wiki/Chest_radiograph": "wiki.html", "/private/records.html": "nolicence.html"}
OK = {"127.0.0.1/health/images/cxr-rll-pneumonia.png", "127.0.0.1/health/images/ct-effusion-1200.png",
      "127.0.0.1/health/images/tb-miliary.png",
      "127.0.0.1" + WIKI + "500px-Chest_Xray_PA_3-8-2010.png"}


def site(srv: ReplayServer, delay: float = 0.0) -> dict:
    """Serve the site; pages and images count how many requests were in flight at once."""
    load = {"now": 0, "max": 0, "api": [], "starts": []}
    lock = threading.Lock()

    def tracked(body: bytes, ctype: str):
        def handler(req):
            with lock:
                load["now"] += 1
                load["max"] = max(load["max"], load["now"])
                load["starts"].append(time.monotonic())
            time.sleep(delay)
            with lock:
                load["now"] -= 1
            return Response(200, body, content_type=ctype)
        return handler

    for path, name in PAGES.items():
        srv.add_handler(path, tracked((WEB / name).read_bytes(), "text/html; charset=utf-8"), methods=("GET",))
    for path, body in IMAGES.items():
        srv.add_handler(path, tracked(body, "image/png"), methods=("GET",))
    srv.add_file("/robots.txt", WEB / "robots.txt", content_type="text/plain")
    srv.add_file("/sitemap.xml", WEB / "sitemap.xml", content_type="application/xml")

    def api(req):
        load["api"].append({k: v[0] for k, v in req.query.items()})
        return Response(200, (WEB / "commons_imageinfo.json").read_bytes(), content_type="application/json; charset=utf-8")

    srv.add_handler("/w/api.php", api)
    return load


def cli(out: Path, base: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "medharvest", "crawl", "web", "--out", str(out), "--base-url", base,
           "--start-url", "/health/index.html", "--sitemap", "https://health.example.org/sitemap.xml",
           "--option", f"commons_base_url={base}", "-q", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=150)


@pytest.mark.slow
def test_crawl_keeps_licensed_content_images_and_says_why_for_the_rest(tmp_path):
    with ReplayServer() as srv:
        load = site(srv)
        proc = cli(tmp_path, srv.url())
        assert proc.returncode == 0, proc.stderr[-2000:]
        items = latest(tmp_path, "web")
        ok = {sid for sid, it in items.items() if it.status == "ok"}
        assert ok == OK, {sid: it.error for sid, it in items.items()}
        # fetched: the three kept images, the duplicate copy and the tiny thumbnail (checked by their bytes)
        fetched = {p for p in IMAGES if srv.hits[p]}
        assert fetched == {"/health/images/cxr-rll-pneumonia.png", "/health/images/ct-effusion-1200.png",
                           WIKI + "500px-Chest_Xray_PA_3-8-2010.png", "/health/images/cxr-rll-copy.png",
                           "/health/images/mri-thumb.png", "/health/images/tb-miliary.png"}
        assert srv.hits["/private/records.html"] == 0 and srv.hits["/private/patient-photo.jpg"] == 0   # robots.txt
        assert srv.hits["/health/deep.html"] == 0                  # depth 1: linked from a depth-1 page
        assert srv.hits["/health/pneumonia.html"] == 1             # in the sitemap and linked: fetched once
        assert len(load["api"]) == 1 and "Chest Xray PA" in load["api"][0]["titles"].replace("_", " ")
        assert load["api"][0]["maxlag"] == "5"

    def why(path):
        return items["127.0.0.1" + path].error
    cxr = items["127.0.0.1/health/images/cxr-rll-pneumonia.png"]
    assert cxr.text.startswith("Figure 1. Right lower lobe") and cxr.text_kind == "caption"
    assert cxr.license == "CC-BY-4.0" and cxr.license_url == "https://creativecommons.org/licenses/by/4.0/"
    assert cxr.source_url.endswith("/health/index.html") and cxr.meta["licence_from"] == "page (rel=license)"
    assert cxr.meta["context"].startswith("A chest radiograph") and cxr.meta["width"] == 256
    assert cxr.attribution == "Pneumonia imaging | Example Health Institute (127.0.0.1)"
    ct = items["127.0.0.1/health/images/ct-effusion-1200.png"]
    assert ct.text_kind == "description" and ct.text.startswith("Axial CT")
    tb = items["127.0.0.1/health/images/tb-miliary.png"]           # its own licence on a page without one
    assert tb.license == "CC0-1.0" and tb.meta["licence_from"] == "figure"
    wiki = items["127.0.0.1" + WIKI + "500px-Chest_Xray_PA_3-8-2010.png"]
    assert wiki.license == "CC-BY-SA-3.0" and wiki.meta["licence_from"] == "commons"   # the file's, not the page's
    assert wiki.attribution.startswith("Stillwaterising") and wiki.text == "A normal posteroanterior (PA) chest radiograph."
    assert "same bytes as 127.0.0.1/health/images/cxr-rll-pneumonia.png" in why("/health/images/cxr-rll-copy.png")
    assert "40x40" in why("/health/images/mri-thumb.png") or "min_bytes" in why("/health/images/mri-thumb.png")
    assert why("/private/patient-photo.jpg") == "image forbidden by robots.txt"
    assert "same image is on 2 pages" in why("/media/our-hospital.jpg")
    assert "'logo'" in why("/static/eh-logo.png") and "'icon'" in why("/static/icons/print.png")
    assert "empty alt" in why("/health/images/divider.png") and "presentation" in why("/health/images/spacer.gif")
    assert "CC-BY-NC-4.0" in why("/health/images/round-pneumonia.png")
    assert why("/health/images/tb-cavity.png").startswith("no licence on the page")
    assert "no Commons licence for File:Radiology Journal cover 2019.jpg" in why(
        "/upload/wikipedia/en/thumb/5/5f/Radiology_Journal_cover_2019.jpg/220px-Radiology_Journal_cover_2019.jpg")
    assert all(it.status in ("ok", "skipped") for it in items.values())
    s = stats(tmp_path, "web")
    assert s["status"] == {"ok": 4, "skipped": len(items) - 4} and s["run"]["robots_forbidden"] == 2
    assert s["run"]["pages"] == 4                               # index, pneumonia, wiki, nolicence
    assert "requests_failed" not in s["run"]                    # the off-site partner link was never requested

    # a re-run resumes: kept images are neither fetched nor written again
    with ReplayServer() as srv2:
        site(srv2)
        proc = cli(tmp_path, srv2.url())
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert not any(srv2.hits[p] for p in ("/health/images/cxr-rll-pneumonia.png", WIKI + "500px-Chest_Xray_PA_3-8-2010.png"))
    s2 = stats(tmp_path, "web")
    assert s2["status"]["ok"] == 4 and s2["run"]["skipped_done"] == 4

    from curation.pipeline import CurateConfig, curate_run
    from manifests.io import read_manifest

    curate_run(CurateConfig(ocr=False, workers=1), [tmp_path], tmp_path / "cur")
    rows = {r["source_id"]: r for r in read_manifest(tmp_path / "cur").to_pylist()}
    kept = [rows[sid] for sid in OK]
    assert all(r["status"] == "ok" and r["image_path"] and r["license"] and r["text"] for r in kept)
    assert rows["127.0.0.1/health/images/ct-effusion-1200.png"]["width"] == 600
    assert rows["127.0.0.1/health/images/tb-cavity.png"]["status"] == "skipped"


@pytest.mark.slow
def test_per_host_limit_holds_on_loopback(tmp_path):
    runs, gaps = {}, {}
    for name, service, options in (("default", 0.15, {}), ("one", 0.02, {"per_host": 1, "delay": 0.4})):
        with ReplayServer() as srv:
            load = site(srv, delay=service)
            crawl("web", tmp_path / name, base_url=srv.url(), options={
                "start_urls": ["/health/index.html"], "sitemap": "/sitemap.xml", "commons_base_url": srv.url(), **options})
            runs[name] = load["max"]
            starts = sorted(load["starts"])
            gaps[name] = min(b - a for a, b in zip(starts, starts[1:]))
    assert runs["one"] == 1 and runs["default"] >= 2, runs
    # one at a time, and the delay between request starts (0.4 s times Scrapy's 0.5..1.5 jitter) >> 0.02 s service
    assert gaps["one"] >= 0.4 * 0.5 - 0.02 and gaps["default"] < 0.1, gaps


def test_unreachable_site_is_counted_not_fatal(tmp_path):
    import socket

    with socket.socket() as sock:          # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = crawl("web", tmp_path, base_url=f"http://127.0.0.1:{port}", options={"start_urls": ["/index.html"]},
              scrapy_settings={"RETRY_TIMES": 1})
    assert s["items"] == 0 and s["run"]["requests_failed"] == 1 and s["run"]["pages"] == 0


@pytest.mark.parametrize("options,message", [
    ({}, "needs at least one --start-url"),
    ({"start_urls": ["/a"], "dpeth": 2}, "unknown web option 'dpeth'; did you mean 'depth'"),
    ({"start_urls": ["/a"], "content_css": "main >> p"}, "content_css='main >> p' is not a valid selector"),
    ({"start_urls": ["/a"], "licences": "CC-BY,GPL"}, "unknown licence 'GPL'"),
])
def test_bad_options_stop_before_any_request(tmp_path, options, message):
    with pytest.raises(UsageError, match=message):
        crawl("web", tmp_path, base_url="http://127.0.0.1:9", options=options)
    assert not (tmp_path / "raw" / "web" / "items.jsonl").exists()


@pytest.mark.parametrize("args,what", [(["--start-url", "/index.html"], "start URL '/index.html'"),
                                       (["--sitemap", "sitemap.xml"], "sitemap 'sitemap.xml'")])
def test_a_path_without_base_url_is_a_usage_error(tmp_path, capsys, args, what):
    from medharvest.cli import main

    assert main(["crawl", "web", "--out", str(tmp_path / "out"), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert what in err and "is a path" in err and "--base-url" in err
    assert not (tmp_path / "out" / "raw").exists()                  # stopped before any work


def test_cli_lists_web_with_its_terms():
    proc = subprocess.run([sys.executable, "-m", "medharvest", "crawl", "--list"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "web" in proc.stdout and "robots.txt" in proc.stdout

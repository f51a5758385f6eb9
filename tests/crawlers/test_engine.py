"""The streaming downloader and politeness layer against the loopback replay server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from crawlers.engine.download import Downloader, FileRequest, redact_url
from crawlers.engine.integrity import parse_checksum, safe_relpath, sniff
from crawlers.engine.politeness import HostGate, TokenBucket, parse_retry_after
from tests.crawlers.replay import ReplayServer, Response

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(200_000)
SHA = hashlib.sha256(JPEG).hexdigest()
MD5 = hashlib.md5(JPEG).hexdigest()


def dl(**kw) -> Downloader:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("retries", 3)
    return Downloader(**kw)


def test_parse_retry_after_seconds_and_date():
    assert parse_retry_after("7") == 7.0
    now = time.time()
    assert 29 <= parse_retry_after(formatdate(now + 30, usegmt=True), now=now) <= 30
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("fault", ["429", "429-date"])
def test_retry_after_is_honoured(tmp_path, fault):
    with ReplayServer(retry_after="1") as srv:
        srv.add("/a.jpg", JPEG, faults=[fault])
        t = time.monotonic()
        res = dl().fetch(FileRequest(srv.url("/a.jpg"), tmp_path / "a.jpg", checksum=f"sha256:{SHA}", expect="image"))
        took = time.monotonic() - t
    assert res.ok and res.attempts == 2
    assert took >= (0.9 if fault == "429" else 0.0)  # an HTTP date has 1 s resolution
    assert (tmp_path / "a.jpg").read_bytes() == JPEG


def test_range_resume_hashes_the_prefix(tmp_path):
    dest = tmp_path / "a.jpg"
    Path(str(dest) + ".part").write_bytes(JPEG[:70_000])
    with ReplayServer() as srv:
        srv.add("/a.jpg", JPEG)
        res = dl().fetch(FileRequest(srv.url("/a.jpg"), dest, checksum=f"md5:{MD5}", size=len(JPEG), expect="image"))
        ranges = [h.get("Range") for _, _, h in srv.log]
    assert res.ok and res.resumed and res.http_status == 206
    assert ranges == ["bytes=70000-"] and dest.read_bytes() == JPEG and res.sha256 == SHA
    assert not Path(str(dest) + ".part").exists()


def test_server_ignoring_range_restarts_from_zero(tmp_path):
    dest = tmp_path / "a.jpg"
    Path(str(dest) + ".part").write_bytes(b"garbage-prefix")
    with ReplayServer() as srv:
        srv.add("/a.jpg", JPEG, faults=["norange"])
        res = dl().fetch(FileRequest(srv.url("/a.jpg"), dest, checksum=SHA, expect="image"))
    assert res.ok and not res.resumed and dest.read_bytes() == JPEG


def test_wrong_content_range_is_not_appended(tmp_path):
    dest = tmp_path / "a.jpg"
    Path(str(dest) + ".part").write_bytes(JPEG[:1000])
    calls = []

    def handler(req):
        calls.append(req.headers.get("Range"))
        if req.headers.get("Range"):
            return Response(206, JPEG[10:], {"Content-Range": f"bytes 10-{len(JPEG) - 1}/{len(JPEG)}"}, "image/jpeg")
        return Response(200, JPEG, {}, "image/jpeg")

    with ReplayServer() as srv:
        srv.add_handler("/a.jpg", handler)
        res = dl().fetch(FileRequest(srv.url("/a.jpg"), dest, checksum=SHA, expect="image"))
    assert res.ok and calls == ["bytes=1000-", None] and dest.read_bytes() == JPEG


@pytest.mark.parametrize("fault,needle", [("html", "error page"), ("json-error", "error page"), ("empty", "0 bytes"),
                                          ("corrupt", "sha256 mismatch"), ("truncate", "cut short"), ("404", "HTTP 404")])
def test_permanent_faults_are_recorded_not_written(tmp_path, fault, needle):
    with ReplayServer(retry_after="0") as srv:
        srv.add("/a.jpg", JPEG, content_type="image/jpeg", always=fault)
        res = dl().fetch(FileRequest(srv.url("/a.jpg"), tmp_path / "a.jpg", checksum=f"sha256:{SHA}", expect="image"))
        hits = srv.hits["/a.jpg"]
    assert res.status == "error" and needle in res.error
    assert not (tmp_path / "a.jpg").exists()
    assert hits == (1 if fault == "404" else 4)


def test_sniffing_rules():
    assert sniff(b"<!DOCTYPE html><html>", "text/html", "image")
    assert sniff(b"\xff\xd8\xff\xe0....", "text/html", "image") is None  # magic wins over a wrong type
    assert sniff(b"GIF89a", "image/gif", "image") is None
    assert sniff(b"random-binary", None, "image")
    assert sniff(b"random-binary", None, "binary") is None
    assert sniff(b'{"message": "no"}', "application/json", "binary")
    assert sniff(b"FINAL REPORT", "text/html", "text") is None


def test_existing_verified_file_is_not_fetched(tmp_path):
    (tmp_path / "a.jpg").write_bytes(JPEG)
    (tmp_path / "b.jpg").write_bytes(JPEG[:-1] + b"\x00")  # corrupt copy: fetched again
    with ReplayServer() as srv:
        srv.add("/a.jpg", JPEG)
        srv.add("/b.jpg", JPEG)
        d = dl()
        ra = d.fetch(FileRequest(srv.url("/a.jpg"), tmp_path / "a.jpg", checksum=SHA))
        rb = d.fetch(FileRequest(srv.url("/b.jpg"), tmp_path / "b.jpg", checksum=SHA))
        hits = dict(srv.hits)
    assert ra.skipped and ra.sha256 == SHA and "/a.jpg" not in hits
    assert rb.ok and not rb.skipped and (tmp_path / "b.jpg").read_bytes() == JPEG


def test_content_disposition_cannot_escape(tmp_path):
    with ReplayServer() as srv:
        srv.add("/data/x", JPEG, headers={"Content-Disposition": 'attachment; filename="../../../escape.jpg"'})
        srv.add("/data/y", JPEG, headers={"Content-Disposition": "attachment; filename=/etc/cron.d/evil"})
        d = dl()
        rx = d.fetch(FileRequest(srv.url("/data/x"), tmp_path / "out" / "x", name_from_header=True, fallback_name="x"))
        ry = d.fetch(FileRequest(srv.url("/data/y"), tmp_path / "out" / "y", name_from_header=True, fallback_name="y"))
    assert rx.ok and Path(rx.path) == tmp_path / "out" / "x" / "escape.jpg"
    assert ry.ok and Path(ry.path) == tmp_path / "out" / "y" / "evil"
    assert safe_relpath("../../a/./b/../c\x00d.jpg") == "a/b/c_d.jpg" and safe_relpath("/etc/passwd") == "etc/passwd"


def test_secrets_stay_out_of_messages_and_off_other_hosts(tmp_path):
    with ReplayServer() as other, ReplayServer() as home:
        other.add("/file.jpg", JPEG)
        home.add_handler("/redirect", lambda req: Response(302, b"", {"Location": other.url("/file.jpg")}, "text/plain"))
        home.add("/denied", b"no", always="403")
        d = dl(secret_headers={"X-Auth-Token": "tok-123"}, auth=("user", "pw-456"), credential_origin=home.url())
        ok = d.fetch(FileRequest(home.url("/redirect"), tmp_path / "a.jpg", checksum=SHA))
        bad = d.fetch(FileRequest(home.url("/denied") + "?api_key=k-789&x=1", tmp_path / "b.jpg"))
        home_headers = [h for _, _, h in home.log]
        other_headers = [h for _, _, h in other.log]
    assert ok.ok
    assert all(h.get("X-Auth-Token") == "tok-123" for h in home_headers)
    assert all("X-Auth-Token" not in h and "Authorization" not in h for h in other_headers)
    assert "k-789" not in bad.error and "api_key=%2A%2A%2A" in bad.error
    assert redact_url("http://u:p@h:1/x?token=abc&q=1") == "http://h:1/x?token=%2A%2A%2A&q=1"


def test_per_host_concurrency_limit(tmp_path):
    active, peak, lock = [0], [0], threading.Lock()

    def slow(req):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return Response(200, JPEG[:1000], {}, "image/jpeg")

    with ReplayServer() as srv:
        srv.add_handler("/f/", slow, prefix=True)
        d = dl(per_host=3)
        reqs = [FileRequest(srv.url(f"/f/{i}.jpg"), tmp_path / f"{i}.jpg", expect="image") for i in range(24)]
        results = [r for _, r in d.fetch_many(reqs, workers=12)]
    assert all(r.ok for r in results) and 1 < peak[0] <= 3


def test_token_bucket_rate():
    bucket = TokenBucket(rate=20.0, burst=1)
    t = time.monotonic()
    for _ in range(11):
        bucket.take()
    assert time.monotonic() - t >= 0.45
    gate = HostGate(concurrency=2)
    gate.pause("h", 0.2)
    t = time.monotonic()
    with gate.slot("h"):
        pass
    assert time.monotonic() - t >= 0.18


def test_parse_checksum():
    assert parse_checksum("MD5:" + MD5.upper()) == ("md5", MD5)
    assert parse_checksum(SHA) == ("sha256", SHA)
    with pytest.raises(ValueError):
        parse_checksum("sha256:abc")


def test_request_retries_then_raises(tmp_path):
    from crawlers.engine.download import DownloadError

    with ReplayServer(retry_after="0") as srv:
        srv.add("/api", b'{"ok": 1}', content_type="application/json", faults=["503", "reset"])
        srv.add("/gone", b"", always="500")
        d = dl()
        assert d.request("GET", srv.url("/api")).json() == {"ok": 1}
        with pytest.raises(DownloadError, match="gave up after 4 attempts"):
            d.request("GET", srv.url("/gone"))


def test_cli_list_and_unknown_source():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-m", "medharvest", "crawl", "--list"], capture_output=True, text=True, env=env)
    assert out.returncode == 0
    for name in ("physionet", "gdc", "openneuro", "openi", "medpix", "wikimedia", "pmc"):
        assert name in out.stdout
    assert "Credentialed Health Data License" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "medharvest", "crawl", "gdcc", "--out", "x"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown source 'gdcc'; did you mean 'gdc'?" in bad.stderr


def test_registry_lookup_and_terms():
    from crawlers import registry
    from manifests.errors import UsageError

    with pytest.raises(UsageError, match="did you mean 'physionet'"):
        registry.spider_class("physionett")
    assert registry.terms(registry.spider_class("gdc")).startswith("NCI Genomic Data Commons")
    assert set(registry.sources()) >= {"gdc", "medpix", "openi", "openneuro", "physionet", "pmc", "wikimedia"}
    assert "credentials: GDC_TOKEN, GDC_TOKEN_FILE" in registry.listing()["gdc"]


_FAKE_SOURCE = """\"\"\"Datasheet first paragraph.\n\nMore.\"\"\"
from crawlers.engine.spider import SourceSpider


class Spider(SourceSpider):
    name = "fake"
    {extra}
"""


def test_registry_discovery_terms_and_duplicates(tmp_path, monkeypatch):
    from crawlers import registry

    pkg = tmp_path / "fake_sources"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "one.py").write_text(_FAKE_SOURCE.format(extra="terms = 'Public domain; no login.'"))
    (pkg / "helper.py").write_text("X = 1\n")          # not a source: ignored
    monkeypatch.syspath_prepend(str(tmp_path))
    found = registry.discover("fake_sources")
    assert list(found) == ["fake"] and registry.terms(found["fake"]) == "Public domain; no login."
    (pkg / "two.py").write_text(_FAKE_SOURCE.format(extra="pass"))
    with pytest.raises(RuntimeError, match="two sources named 'fake'"):
        registry.discover("fake_sources")


def test_pdf_report_text_layer(tmp_path):
    from crawlers.engine.pipeline import extract_text
    from tests.crawlers.gdc_catalog import minimal_pdf

    (tmp_path / "r.pdf").write_bytes(minimal_pdf("Invasive ductal carcinoma"))
    assert "Invasive ductal carcinoma" in extract_text(tmp_path / "r.pdf", "pdf")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    with pytest.raises(RuntimeError):
        extract_text(tmp_path / "bad.pdf", "pdf")


def test_polite_scrapy_settings():
    from crawlers.engine.scrapy_run import settings_for
    from crawlers.gdc import Spider as GDC
    from crawlers.physionet import Spider as PhysioNet

    remote = settings_for(PhysioNet, "/tmp/x", None)
    assert remote["AUTOTHROTTLE_ENABLED"] and remote["DOWNLOAD_DELAY"] == PhysioNet.metadata_delay
    assert remote["USER_AGENT"].startswith("Wget/") and remote["ROBOTSTXT_OBEY"] is False
    assert remote["TELNETCONSOLE_ENABLED"] is False and remote["REMOTE_CONTROL_ENABLED"] is False
    assert remote["JOBDIR"].endswith("raw/physionet/.jobdir") and remote["CONCURRENT_REQUESTS_PER_DOMAIN"] == 2
    local = settings_for(GDC, "/tmp/x", "http://127.0.0.1:8080")
    assert not local["AUTOTHROTTLE_ENABLED"] and local["DOWNLOAD_DELAY"] == 0
    assert local["USER_AGENT"].startswith("medharvest/") and "mailto:" in local["USER_AGENT"]


def test_cli_resume_needs_a_previous_run_and_options_are_checked(tmp_path, capsys):
    from medharvest.cli import main

    assert main(["crawl", "openi", "--out", str(tmp_path), "--resume"]) == 2
    assert "holds no previous run" in capsys.readouterr().err
    assert main(["crawl", "openi", "--out", str(tmp_path), "--option", "colection=cxr"]) == 2
    assert "unknown openi option 'colection'; did you mean 'collection'?" in capsys.readouterr().err

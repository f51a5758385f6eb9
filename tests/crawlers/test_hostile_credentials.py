"""Credentials never reach another origin: exact (scheme, host, port) on every request and redirect hop.

Two loopback servers on different ports: ``home`` (the base URL the credential belongs to) redirects
everything to ``other``; the credential must never arrive at ``other`` — through the Scrapy path
(GDC ``X-Auth-Token``, NCBI ``api_key``, PhysioNet Basic auth) or the streaming downloader.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random

import pytest

from crawlers.engine import crawl
from crawlers.engine.credentials import origin, same_origin
from crawlers.engine.download import Downloader, FileRequest
from manifests.errors import StageError
from tests.crawlers import physionet_tree
from tests.crawlers.gdc_catalog import TOKEN, FakeGDC
from tests.crawlers.replay import ReplayServer, Response

pytestmark = pytest.mark.timeout(180)

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(5000)
SHA = hashlib.sha256(JPEG).hexdigest()
NCBI_KEY = "ncbi-key-must-stay-home-42"


def redirect_all_to(other: ReplayServer, seen: list):
    """A gate that records what arrived (headers + query) and answers 307 to the same path on ``other``."""

    def gate(req):
        seen.append((req.path, dict(req.headers), {k: v[0] for k, v in req.query.items()}))
        q = "&".join(f"{k}={v[0]}" for k, v in req.query.items())
        return Response(307, b"", {"Location": other.url(req.path) + (f"?{q}" if q else "")}, "text/plain")
    return gate


def prefix_port_pair() -> tuple[ReplayServer, ReplayServer]:
    """Two servers where the second port starts with the first one's digits (5531 / 55311)."""
    rng = random.Random()
    for _ in range(50):
        p = rng.randrange(1100, 6553)
        q = p * 10 + rng.randrange(10)
        try:
            a = ReplayServer(port=p)
        except OSError:
            continue
        try:
            b = ReplayServer(port=q)
        except OSError:
            a.stop()
            continue
        return a, b
    pytest.skip("no free pair of loopback ports N / N*10+d")


def test_same_origin_is_exact():
    assert origin("HTTPS://API.gdc.cancer.gov/data/x") == ("https", "api.gdc.cancer.gov", 443)
    assert same_origin("https://api.gdc.cancer.gov:443/data/1", "https://api.gdc.cancer.gov")
    assert same_origin("http://127.0.0.1:5531/x?y=1", "http://127.0.0.1:5531")
    for url in ("http://127.0.0.1:55311/x", "https://api.gdc.cancer.gov.evil.tld/data/1",
                "http://api.gdc.cancer.gov/data/1", "https://api.gdc.cancer.gov:8443/data/1",
                "https://evil.tld/?u=https://api.gdc.cancer.gov", "https://api.gdc.cancer.gov@evil.tld/",
                "ftp://api.gdc.cancer.gov/", "https://api.gdc.cancer.gov:99999/", "/data/1", ""):
        base = "http://127.0.0.1:5531" if "127.0.0.1" in url else "https://api.gdc.cancer.gov"
        assert not same_origin(url, base), url


def test_gdc_token_only_for_its_exact_origin(monkeypatch):
    from crawlers.gdc import Spider

    monkeypatch.setenv("GDC_TOKEN", TOKEN)
    spider = Spider(base_url="http://127.0.0.1:5531")
    assert spider.secret_headers("http://127.0.0.1:5531/data/x") == {"X-Auth-Token": TOKEN}
    assert spider.secret_headers("http://127.0.0.1:55311/data/x") == {}
    real = Spider()
    assert real.secret_headers("https://api.gdc.cancer.gov/data/x") == {"X-Auth-Token": TOKEN}
    assert real.secret_headers("https://api.gdc.cancer.gov.evil.tld/data/x") == {}


def test_ncbi_key_only_for_its_exact_origin(monkeypatch):
    import scrapy

    from crawlers.engine.credentials import Secret
    from crawlers.pmc import ApiKeyMiddleware, Spider

    spider = Spider(base_url="http://127.0.0.1:5531")
    spider.api_key = Secret(NCBI_KEY)
    mw = ApiKeyMiddleware()
    home = scrapy.Request("http://127.0.0.1:5531/entrez/eutils/esearch.fcgi?db=pmc")
    mw.process_request(home, spider)
    assert f"api_key={NCBI_KEY}" in home.url
    for url in ("http://127.0.0.1:55311/entrez/eutils/esearch.fcgi?db=pmc", "http://evil.tld/entrez/eutils/efetch.fcgi",
                "http://127.0.0.1:5531/pmc/utils/oa/oa.fcgi?id=PMC1",   # same host, not E-utilities: no key either
                # a redirect target whose Location carries the key over: removed, not forwarded
                f"http://127.0.0.1:55311/entrez/eutils/efetch.fcgi?db=pmc&api_key={NCBI_KEY}"):
        req = scrapy.Request(url)
        mw.process_request(req, spider)
        assert NCBI_KEY not in req.url, url


def test_pmc_crawl_redirected_elsewhere_sends_no_api_key(tmp_path, monkeypatch):
    from tests.crawlers.test_pmc_crawl import serve

    monkeypatch.setenv("NCBI_API_KEY", NCBI_KEY)
    seen: list = []
    with ReplayServer() as home, ReplayServer() as other:
        calls = serve(other)
        home.gate = redirect_all_to(other, seen)
        crawl("pmc", tmp_path, query="pneumothorax", base_url=home.url())
    assert seen and seen[0][2].get("api_key") == NCBI_KEY                   # sent to its origin ...
    assert calls and all("api_key" not in q for _, q in calls), calls       # ... never to the other server
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert NCBI_KEY.encode() not in path.read_bytes(), path


def test_physionet_basic_auth_not_sent_after_redirect(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSIONET_USERNAME", physionet_tree.USER)
    monkeypatch.setenv("PHYSIONET_PASSWORD", physionet_tree.PASSWORD)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    fake = physionet_tree.build(3, seed=1)
    seen: list = []
    with ReplayServer() as home, ReplayServer() as other:
        physionet_tree.serve(other, fake)
        home.gate = redirect_all_to(other, seen)
        with pytest.raises(StageError):   # the other server refuses: no credentials arrived there
            crawl("physionet", tmp_path, base_url=home.url())
        at_other = [h for _, _, h in other.log]
    assert seen and all(h.get("Authorization", "").startswith("Basic ") for _, h, _ in seen)
    assert at_other and not [h for h in at_other if "Authorization" in h]


def test_downloader_sends_credentials_to_its_origin_only(tmp_path):
    basic = "Basic " + base64.b64encode(b"user:pw-456").decode()
    with ReplayServer() as home, ReplayServer() as other:
        other.add("/file.jpg", JPEG)
        home.add("/file.jpg", JPEG)
        home.add_handler("/redirect", lambda req: Response(302, b"", {"Location": other.url("/file.jpg")}, "text/plain"))
        home.add_handler("/bounce", lambda req: Response(302, b"", {"Location": other.url("/back")}, "text/plain"))
        other.add_handler("/back", lambda req: Response(302, b"", {"Location": home.url("/file.jpg")}, "text/plain"))
        d = Downloader(secret_headers={"X-Auth-Token": "tok-123"}, auth=("user", "pw-456"), credential_origin=home.url(),
                       backoff=0.01, retries=1)
        assert d.fetch(FileRequest(home.url("/file.jpg"), tmp_path / "a.jpg", checksum=SHA)).ok
        assert d.fetch(FileRequest(home.url("/redirect"), tmp_path / "b.jpg", checksum=SHA)).ok
        assert d.fetch(FileRequest(other.url("/file.jpg"), tmp_path / "c.jpg", checksum=SHA)).ok   # another origin, asked directly
        assert d.fetch(FileRequest(home.url("/bounce"), tmp_path / "d.jpg", checksum=SHA)).ok     # home -> other -> home
        d.request("GET", other.url("/file.jpg"))
        home_log, other_log = list(home.log), list(other.log)
    first = home_log[0][2]
    assert first.get("X-Auth-Token") == "tok-123" and first.get("Authorization") == basic
    assert other_log and all("X-Auth-Token" not in h and "Authorization" not in h for _, _, h in other_log)
    back = [h for _, p, h in home_log if p == "/file.jpg"][-1]      # came back from the other origin: stays stripped
    assert "X-Auth-Token" not in back and "Authorization" not in back
    with pytest.raises(ValueError, match="credential_origin"):
        Downloader(secret_headers={"X-Auth-Token": "t"})


def test_gdc_crawl_redirected_to_a_prefix_port_sends_no_token(tmp_path, monkeypatch):
    monkeypatch.setenv("GDC_TOKEN", TOKEN)
    home, other = prefix_port_pair()
    seen: list = []
    with home, other:
        FakeGDC(2).serve(other)
        home.gate = redirect_all_to(other, seen)
        try:
            crawl("gdc", tmp_path, base_url=home.url(), options={"reports": False})
        except StageError:
            pass
        at_other = [(p, h) for _, p, h in other.log]
    assert seen and all(h.get("X-Auth-Token") == TOKEN for _, h, _ in seen)      # it was sent at home ...
    assert at_other and not [p for p, h in at_other if "X-Auth-Token" in h]       # ... and never elsewhere
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path

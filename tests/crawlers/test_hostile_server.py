"""Servers that misbehave on purpose: trickling bytes, huge Retry-After, short first reads.

Each case used to hold a download thread (for as long as the server liked, or ~25 min of
``Retry-After`` sleeps) or reject a good file on every retry; the guard thread below turns a hang
into a failure instead of a stuck suite.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time

import pytest

from crawlers.engine.download import Downloader, FileRequest
from tests.crawlers.replay import ReplayServer, Response

pytestmark = pytest.mark.timeout(120)

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(20_000)


def within(seconds: float, fn):
    """``fn()`` on a thread; fails if it has not returned after ``seconds`` (the thread is left behind)."""
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn()), daemon=True)
    t0 = time.monotonic()
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    return box["r"], time.monotonic() - t0


def trickle(data: bytes, per_byte: float, *, head: int = 0):
    """A handler sending ``head`` bytes at once, then one byte every ``per_byte`` seconds."""
    def gen():
        yield data[:head]
        for i in range(head, len(data)):
            time.sleep(per_byte)
            yield data[i:i + 1]

    return lambda req: Response(200, (gen(), len(data)), {}, "image/jpeg")


def test_trickling_server_is_cut_off_by_the_minimum_rate(tmp_path):
    with ReplayServer() as srv:
        srv.add_handler("/slow.jpg", trickle(JPEG, 0.05, head=600))
        d = Downloader(retries=2, backoff=0.01, min_rate=2000, rate_window=1.0, file_deadline=30)
        res, took = within(20, lambda: d.fetch(FileRequest(srv.url("/slow.jpg"), tmp_path / "a.jpg", expect="image")))
    assert res.status == "error" and "too slow" in res.error, res.error
    assert took < 10


def test_total_deadline_per_file(tmp_path):
    body = JPEG[:1] + os.urandom(40_000)
    with ReplayServer() as srv:       # 2 KB every 0.1 s = 20 KB/s: fast enough for min_rate, too long for the deadline
        srv.add_handler("/big.jpg", lambda req: Response(200, ((time.sleep(0.1) or body[i:i + 2000] for i in range(0, len(body), 2000)),
                                                               len(body)), {}, "image/jpeg"))
        d = Downloader(retries=3, backoff=0.01, min_rate=1000, rate_window=1.0, file_deadline=1.0)
        res, took = within(20, lambda: d.fetch(FileRequest(srv.url("/big.jpg"), tmp_path / "b.jpg")))
    assert res.status == "error" and "deadline" in res.error, res.error
    assert took < 5


def test_huge_retry_after_gives_up_at_once_with_a_clear_message(tmp_path):
    with ReplayServer(retry_after="999999") as srv:
        srv.add("/a.jpg", JPEG, always="429")
        d = Downloader(retries=5)                 # the defaults: no test-sized limits
        res, took = within(15, lambda: d.fetch(FileRequest(srv.url("/a.jpg"), tmp_path / "a.jpg")))
        hits = srv.hits["/a.jpg"]
    assert res.status == "error" and "Retry-After" in res.error and "999999" in res.error, res.error
    assert took < 5 and hits == 1


def test_total_retry_wait_is_capped(tmp_path):
    with ReplayServer(retry_after="2") as srv:
        srv.add("/b.jpg", JPEG, always="429")
        d = Downloader(retries=5, retry_budget=3.0)
        res, took = within(20, lambda: d.fetch(FileRequest(srv.url("/b.jpg"), tmp_path / "b.jpg")))
    assert res.status == "error" and "retry" in res.error
    assert took < 6          # 5 waits of 2 s would be 10 s


def test_scrapy_retry_with_huge_retry_after_is_not_parked():
    import asyncio

    from scrapy import Request
    from scrapy.http import Response as ScrapyResponse
    from scrapy.utils.test import get_crawler

    from crawlers.engine.scrapy_run import BackoffRetryMiddleware
    from crawlers.engine.spider import SourceSpider

    class Probe(SourceSpider):
        name = "probe"

    crawler = get_crawler(Probe, {"RETRY_HTTP_CODES": [429, 503], "RETRY_TIMES": 5})
    crawler.spider = crawler._create_spider()
    mw = BackoffRetryMiddleware(crawler.settings, crawler)
    req = Request("http://127.0.0.1:1/api")
    resp = ScrapyResponse(req.url, status=429, headers={"Retry-After": "999999"}, request=req)
    t0 = time.monotonic()
    out = asyncio.run(asyncio.wait_for(mw.process_response(req, resp), 10))
    assert out is resp and time.monotonic() - t0 < 2


def png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (64, 64), 7).save(buf, "PNG")
    return buf.getvalue()


def dicom_bytes() -> bytes:
    return b"\0" * 128 + b"DICM" + os.urandom(4000)


@pytest.mark.parametrize("kind", ["dicom", "png"])
@pytest.mark.parametrize("first", [1, 5, 100])
def test_short_first_read_is_sniffed_on_enough_bytes(tmp_path, kind, first):
    data = dicom_bytes() if kind == "dicom" else png_bytes()

    def gen():
        yield data[:first]
        time.sleep(0.05)   # the first network read returns only these bytes
        yield data[first:]

    sha = hashlib.sha256(data).hexdigest()
    with ReplayServer() as srv:
        srv.add_handler("/f", lambda req: Response(200, (gen(), len(data)), {}, "application/octet-stream"))
        res = Downloader(retries=1, backoff=0.01).fetch(FileRequest(srv.url("/f"), tmp_path / "f", checksum=sha, expect="image"))
    assert res.ok, res.error
    assert (tmp_path / "f").read_bytes() == data


def test_short_first_read_error_page_is_still_rejected(tmp_path):
    page = b"<!DOCTYPE html><html><body>Service down</body></html>" * 20

    def gen():
        yield page[:3]
        time.sleep(0.05)
        yield page[3:]

    with ReplayServer() as srv:
        srv.add_handler("/f", lambda req: Response(200, (gen(), len(page)), {}, "application/octet-stream"))
        res = Downloader(retries=0).fetch(FileRequest(srv.url("/f"), tmp_path / "f", expect="image"))
    assert res.status == "error" and "error page" in res.error and not (tmp_path / "f").exists()


# -- a full disk (a real tmpfs; skipped where it cannot be mounted) ----------------------------------
def test_download_into_a_full_disk_says_disk_full_keeps_the_part_and_resumes(tmp_path):
    from tests.smalldisk import grow, small_disk

    big = b"\xff\xd8\xff\xe0" + os.urandom(2 << 20)
    with small_disk(tmp_path / "small", "512k") as disk, ReplayServer() as srv:
        srv.add("/big.jpg", big)
        d = Downloader(retries=3, backoff=0.01)
        req = FileRequest(srv.url("/big.jpg"), disk / "big.jpg", checksum="sha256:" + hashlib.sha256(big).hexdigest(),
                          expect="image")
        res = d.fetch(req)
        assert res.status == "error" and res.disk_full and "disk full" in res.error and "cut short" not in res.error
        assert res.attempts == 1 and srv.hits["/big.jpg"] == 1               # not retried: the network was fine
        part = disk / "big.jpg.part"
        assert part.exists() and part.stat().st_size > 0                      # what arrived is kept
        grow(disk, "8m")
        again = d.fetch(req)
        data = (disk / "big.jpg").read_bytes()
    assert again.ok and again.resumed and data == big


def test_crawl_into_a_full_disk_stops_with_disk_full_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDHARVEST_CONTACT", "radiology-data@uni-example-hospital.de")   # Wikimedia's UA policy
    from crawlers.engine import crawl
    from manifests.errors import StageError
    from manifests.raw import RawStore
    from tests.crawlers.test_hostile_names import serve_commons
    from tests.smalldisk import grow, small_disk

    def noise_png(i: int) -> bytes:
        import numpy as np
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (300, 300), dtype=np.uint8)).save(buf, "PNG")
        return buf.getvalue()                      # ~90 KB, incompressible

    bodies = {f"Scan {i}.png": noise_png(i) for i in range(8)}
    with small_disk(tmp_path / "small", "400k") as disk, ReplayServer() as srv:
        serve_commons(srv, bodies)
        with pytest.raises(StageError, match="disk full"):
            crawl("wikimedia", disk, query="Category:X", base_url=srv.url(), workers=1)
        store = RawStore(disk, "wikimedia")
        ok_before = {sid for sid, it in store.latest().items() if it.status == "ok"}
        assert 0 < len(ok_before) < len(bodies)
        hits_before = dict(srv.hits)
        grow(disk, "16m")
        summary = crawl("wikimedia", disk, query="Category:X", base_url=srv.url(), workers=1)
        hits = dict(srv.hits)
    assert summary["status"] == {"ok": len(bodies)}
    for sid, it in store.latest().items():
        assert store.resolve(it).read_bytes() == bodies[sid]
    for sid in ok_before:                          # done before the disk filled: not fetched again
        path = next(p for p in hits if p.endswith(f"/f{list(bodies).index(sid)}.png"))
        assert hits[path] == hits_before[path]

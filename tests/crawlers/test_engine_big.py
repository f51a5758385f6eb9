"""The big-body path of the downloader (readinto ring, helper threads), forced on small files with ``big_body``."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from crawlers.engine import download, stream
from crawlers.engine.download import Downloader, FileRequest
from crawlers.engine.integrity import Hashes
from tests.crawlers.replay import ReplayServer, Response

BODY = b"\x1f\x8b" + os.urandom(3_000_000 + 12_345)   # not a multiple of the chunk: a short last read
SHA = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()


def dl(**kw) -> Downloader:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("retries", 3)
    return Downloader(big_body=1 << 20, big_chunk=256 << 10, **kw)


@pytest.mark.parametrize("checksum", [f"sha256:{SHA}", f"md5:{MD5}"])
def test_big_body_verified_and_renamed(tmp_path, checksum, monkeypatch):
    calls = []
    monkeypatch.setattr(download, "pump_ring", lambda *a, **k: calls.append(k) or stream.pump_ring(*a, **k))
    with ReplayServer() as srv:
        srv.add("/big.gz", BODY, content_type="application/gzip")
        res = dl().fetch(FileRequest(srv.url("/big.gz"), tmp_path / "big.gz", checksum=checksum, size=len(BODY)))
    assert res.ok and res.sha256 == SHA and res.size == len(BODY) and len(calls) == 1
    assert (tmp_path / "big.gz").read_bytes() == BODY and not (tmp_path / "big.gz.part").exists()


def test_ring_reports_a_write_error_and_stops(tmp_path):
    class Full:
        def write(self, view):
            raise OSError(28, "No space left on device")

    src = io.BufferedReader(io.BytesIO(BODY))
    with pytest.raises(OSError, match="No space"):
        stream.pump_ring(src, Full(), Hashes(), chunk=64 << 10, slots=2)


def test_big_body_resume_hashes_the_prefix(tmp_path):
    dest = tmp_path / "big.gz"
    Path(str(dest) + ".part").write_bytes(BODY[:1_234_567])
    with ReplayServer() as srv:
        srv.add("/big.gz", BODY)
        res = dl().fetch(FileRequest(srv.url("/big.gz"), dest, checksum=f"md5:{MD5}", size=len(BODY)))
        ranges = [h.get("Range") for _, _, h in srv.log]
    assert res.ok and res.resumed and res.http_status == 206 and res.sha256 == SHA
    assert ranges == ["bytes=1234567-"] and dest.read_bytes() == BODY


def test_big_body_cut_short_then_resumed(tmp_path):
    with ReplayServer() as srv:
        srv.add("/big.gz", BODY, faults=["truncate"])
        res = dl().fetch(FileRequest(srv.url("/big.gz"), tmp_path / "big.gz", checksum=SHA, size=len(BODY)))
        ranges = [h.get("Range") for _, _, h in srv.log]
    assert res.ok and res.attempts == 2 and res.resumed and res.sha256 == SHA
    # every byte of the first, truncated answer was kept: the retry asks for exactly the missing half
    assert ranges == [None, f"bytes={len(BODY) // 2}-"]
    assert (tmp_path / "big.gz").read_bytes() == BODY


@pytest.mark.parametrize("fault,needle", [("truncate", "cut short"), ("corrupt", "sha256 mismatch")])
def test_big_body_permanent_faults(tmp_path, fault, needle):
    with ReplayServer() as srv:
        srv.add("/big.gz", BODY, always=fault)
        res = dl(resume=False).fetch(FileRequest(srv.url("/big.gz"), tmp_path / "big.gz", checksum=SHA))
    assert res.status == "error" and needle in res.error and not (tmp_path / "big.gz").exists()


def test_big_html_error_page_with_200_is_rejected(tmp_path):
    page = b"<!DOCTYPE html><html><body>maintenance</body></html>" + b" " * (2 << 20)
    with ReplayServer() as srv:
        srv.add_handler("/big.gz", lambda req: Response(200, page, {}, "application/octet-stream"))
        res = dl(retries=1).fetch(FileRequest(srv.url("/big.gz"), tmp_path / "big.gz"))
    assert res.status == "error" and "error page" in res.error
    assert not (tmp_path / "big.gz").exists() and not (tmp_path / "big.gz.part").exists()


def test_big_encoded_body_is_decoded_like_before(tmp_path):
    import gzip

    body = BODY[:1_500_000] + bytes(3_000_000)   # packed > big_body, unpacked longer still
    packed = gzip.compress(body, compresslevel=1)
    assert (1 << 20) < len(packed) < len(body)
    with ReplayServer() as srv:
        srv.add_handler("/big.bin", lambda req: Response(200, packed, {"Content-Encoding": "gzip"}, "application/octet-stream"))
        res = dl().fetch(FileRequest(srv.url("/big.bin"), tmp_path / "big.bin", checksum=hashlib.sha256(body).hexdigest()))
    assert res.ok and (tmp_path / "big.bin").read_bytes() == body

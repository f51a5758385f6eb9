"""File names a server chooses: too long in bytes, extensions, names that clean to the same file.

A 200-character, 400-byte UTF-8 name used to raise ``OSError: File name too long`` out of the
downloader (the item vanished from ``items.jsonl``, the exit code was 0); truncation dropped the
extension; two titles that clean to the same name overwrote each other.
"""

from __future__ import annotations

import hashlib
import io
import json
import os

import pytest

from crawlers.engine import crawl
from crawlers.engine.download import Downloader, FileRequest
from crawlers.engine.integrity import MAX_NAME_BYTES, safe_name, safe_relpath
from manifests.raw import RawStore
from tests.crawlers.replay import ReplayServer, Response

pytestmark = pytest.mark.timeout(180)

LONG = "é" * 200                      # 200 characters, 400 bytes
TITLE = "é" * 124                     # MediaWiki titles stop at 255 bytes: + "a.png" = 253, + ".part" = 258
TITLES = [TITLE + "a.png", TITLE + "b.png", "Chest X-ray: PA.png", "Chest X-ray? PA.png", "Chest X-ray_ PA.png"]


def png(i: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4 + i, 4), 10 * i).save(buf, "PNG")
    return buf.getvalue()


def test_safe_name_limits_bytes_keeps_extension_and_tells_long_names_apart():
    a, b = safe_name(LONG + "a.png"), safe_name(LONG + "b.png")
    for n in (a, b):
        assert len(n.encode()) <= MAX_NAME_BYTES and n.endswith(".png") and n.startswith("é")
    assert a != b
    assert safe_name("x" * 300 + ".nii.gz").endswith(".nii.gz")
    assert len(safe_name("x" * 300 + ".nii.gz").encode()) <= MAX_NAME_BYTES
    assert safe_name("short.jpg") == "short.jpg"                         # short names unchanged
    assert safe_name("é" * 300).encode().decode() and len(safe_name("é" * 300).encode()) <= MAX_NAME_BYTES
    rel = safe_relpath("/".join(["d" * 300] * 3) + "/f.jpg")
    assert all(len(p.encode()) <= MAX_NAME_BYTES for p in rel.split("/")) and rel.endswith("/f.jpg")


def test_downloader_turns_a_name_too_long_into_an_error_result(tmp_path):
    with ReplayServer() as srv:
        srv.add("/a.png", png(1))
        res = Downloader(retries=0).fetch(FileRequest(srv.url("/a.png"), tmp_path / (LONG * 2 + ".png"), expect="image"))
    assert res.status == "error" and "too long" in res.error.lower()
    assert list(tmp_path.iterdir()) == []


def test_gdc_slide_with_a_400_byte_name_is_kept(tmp_path, monkeypatch):
    from urllib.parse import quote

    from tests.crawlers.gdc_catalog import FakeGDC

    monkeypatch.delenv("GDC_TOKEN", raising=False)
    fake = FakeGDC(2)
    long_slide = fake.slides()[0]
    long_slide["file_name"] = LONG + ".svs"

    def data(req):
        resp = fake.data_endpoint(req)
        fid = req.path.rsplit("/", 1)[1]
        resp.headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + quote(fake.files[fid]["file_name"])
        return resp

    with ReplayServer() as srv:
        fake.serve(srv)
        srv.add_handler("/data/", data, prefix=True)
        summary = crawl("gdc", tmp_path, base_url=srv.url(), options={"reports": False})
    store = RawStore(tmp_path, "gdc")
    items = store.latest()
    assert set(items) == {f["file_id"] for f in fake.slides()}
    assert summary["status"] == {"ok": 2}
    path = store.resolve(items[long_slide["file_id"]])
    assert path.read_bytes() == fake.blobs[long_slide["file_id"]]
    assert path.suffix == ".svs" and path.name.startswith("é") and len(path.name.encode()) <= 255
    assert not list(store.files_dir.rglob("*.part"))


def serve_commons(srv: ReplayServer, bodies: dict[str, bytes]) -> None:
    def page(i, title):
        data = bodies[title]
        return {"pageid": 1000 + i, "ns": 6, "title": "File:" + title, "imagerepository": "local",
                "imageinfo": [{"size": len(data), "width": 4, "height": 4, "mime": "image/png",
                               "url": f"https://upload.wikimedia.org/wikipedia/commons/x/{i}/f{i}.png",
                               "descriptionurl": f"https://commons.wikimedia.org/wiki/File:f{i}",
                               "sha1": hashlib.sha1(data).hexdigest(),
                               "extmetadata": {"LicenseShortName": {"value": "CC BY 4.0"},
                                               "LicenseUrl": {"value": "https://creativecommons.org/licenses/by/4.0"},
                                               "ImageDescription": {"value": f"chest radiograph {i}"}}}]}

    pages = {"File:" + t: page(i, t) for i, t in enumerate(bodies)}

    def api(req):
        q = {k: v[0] for k, v in req.query.items()}
        if q.get("list") == "categorymembers":
            rows = [{"ns": 6, "title": t, "pageid": p["pageid"]} for t, p in pages.items()]
            body = {"batchcomplete": True, "query": {"categorymembers": rows}}
        else:
            body = {"batchcomplete": True, "query": {"pages": [pages[t] for t in q["titles"].split("|")]}}
        return Response(200, json.dumps(body).encode(), content_type="application/json; charset=utf-8")

    srv.add_handler("/w/api.php", api)
    for i, t in enumerate(bodies):
        srv.add(f"/wikipedia/commons/x/{i}/f{i}.png", bodies[t], content_type="image/png")


def test_long_and_colliding_names_every_item_kept_and_distinct(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDHARVEST_CONTACT", "radiology-data@uni-example-hospital.de")   # Wikimedia's UA policy
    bodies = {t: png(i) for i, t in enumerate(TITLES)}
    with ReplayServer() as srv:
        serve_commons(srv, bodies)
        summary = crawl("wikimedia", tmp_path, query="Category:X", base_url=srv.url())
        again = crawl("wikimedia", tmp_path, query="Category:X", base_url=srv.url())   # resume: nothing refetched
        hits = sum(n for p, n in srv.hits.items() if p.endswith(".png"))
    store = RawStore(tmp_path, "wikimedia")
    items = store.latest()
    assert set(items) == set(TITLES), sorted(items)
    assert summary["status"] == {"ok": len(TITLES)} and again["status"] == {"ok": len(TITLES)}
    assert hits == len(TITLES)
    files = set()
    for title, it in items.items():
        path = store.resolve(it)
        assert it.status == "ok" and path.read_bytes() == bodies[title], title
        assert len(path.name.encode()) <= 255 and path.suffix == ".png"
        files.add(path)
    assert len(files) == len(TITLES)
    assert not list(store.files_dir.rglob("*.part"))
    assert all(os.path.commonpath([p, tmp_path]) == str(tmp_path) for p in files)

"""Wikimedia on real recorded MediaWiki API responses (../shared/fixtures/sources/wikimedia), in both
``formatversion``s, with ``continue`` blocks and ``extmetadata`` — per file, then a whole crawl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from urllib.parse import urlsplit

import pytest

from crawlers import wikimedia
from crawlers.engine import crawl
from tests.conftest import REPO
from tests.crawlers.realfix import real_bytes
from tests.crawlers.replay import ReplayServer, Response
from tests.crawlers.webfixtures import FILES, latest

pytestmark = [pytest.mark.shared, pytest.mark.timeout(180)]

RAW = "real_openverse_wmc_raw_2020_original_single-line.json"
SHARED = "real_wptools_imageinfo_extmetadata_formatversion2.json"
CONTACT = "imaging-lab@uni-heidelberg.de"


def test_formatversion2_shared_repository_file_is_kept():
    """Before: ``"missing": true, "known": true, "imagerepository": "shared"`` -> error "file page missing"
    (every image of an article asked through a Wikipedia endpoint was lost)."""
    (it,) = wikimedia.parse_imageinfo(real_bytes("wikimedia", SHARED), base_url="http://m")
    assert (it.status, it.source_id) == ("ok", "Douglas adams portrait cropped.jpg")
    assert it.license == "CC-BY-SA-2.0" and it.license_url == "https://creativecommons.org/licenses/by-sa/2.0"
    assert it.meta["mime"] == "image/jpeg" and it.meta["size"] == 32915
    assert it.meta["file_url"] == "http://m/wikipedia/commons/c/c0/Douglas_adams_portrait_cropped.jpg"
    assert it.source_url == "https://commons.wikimedia.org/wiki/File:Douglas_adams_portrait_cropped.jpg"
    assert it.text.startswith('douglas adams inspired "Hitch hikers guide to the galaxy" H2G2')
    items, cont, pending = wikimedia.parse_imageinfo_batch(real_bytes("wikimedia", SHARED))
    assert cont == {"iistart": "2010-04-16T22:53:21Z", "continue": "||"} and pending == []   # older revisions only


def test_a_file_missing_everywhere_is_an_error():
    body = json.dumps({"batchcomplete": True, "query": {"pages": [
        {"ns": 6, "title": "File:Nope.jpg", "missing": True, "imagerepository": ""}]}}).encode()
    (it,) = wikimedia.parse_imageinfo(body)
    assert it.status == "error" and "does not exist" in it.error


def test_formatversion1_commons_response_28_files():
    """Before: no ``mime`` in the answer (iiprop without it) -> all 28 "not a raster image"."""
    items = wikimedia.parse_imageinfo(real_bytes("wikimedia", RAW))
    assert len(items) == 28
    assert Counter(it.status for it in items) == {"ok": 26, "skipped": 2}
    assert Counter(it.license for it in items) == {"CC-BY-SA-4.0": 15, "PD": 10, "No restrictions": 2, "CC-BY-SA-3.0": 1}
    flickr = [it for it in items if it.status == "skipped"]
    assert {it.meta["license_short_name"] for it in flickr} == {"No restrictions"}   # Flickr "no known restrictions"
    assert all("not in --licences" in it.error for it in flickr)
    assert Counter(it.meta["mime"] for it in items) == {"image/jpeg": 27, "image/tiff": 1}
    by_id = {it.source_id: it for it in items}
    h = by_id["2002-04-02 Hauptstraße, Heidelberg IMG 0404.jpg"]
    assert h.attribution == "Eckhard Henkel; Own work" and h.license_url == "https://creativecommons.org/licenses/by-sa/3.0/de/deed.en"
    assert h.text.startswith("Blick in die Hauptstraße in Richtung Westen")
    assert h.meta["size"] == 816636 and (h.meta["width"], h.meta["height"]) == (1563, 1172)
    # the later re-serialised copy (keys sorted, pretty-printed) reads the same
    again = {it.source_id: it for it in wikimedia.parse_imageinfo(real_bytes("wikimedia", "real_openverse_wmc_raw.json"))}
    assert {k: (v.status, v.license, v.text) for k, v in again.items()} == {
        k: (v.status, v.license, v.text) for k, v in by_id.items()}


def test_continued_batches():
    first, cont, pending = wikimedia.parse_imageinfo_batch(real_bytes("wikimedia", "real_openverse_wmc_pretty1.json"))
    assert len(first) == 9 and {it.status for it in first} == {"ok"} and pending == []
    assert cont == {"continue": "||imageinfo", "gucontinue": "Edvard_Munch_-_Night_in_Nice_(1891).jpg|nowiki|1281339"}
    # the next batch carries only globalusage: its pages are not errors, their imageinfo came before
    items, cont2, pending = wikimedia.parse_imageinfo_batch(real_bytes("wikimedia", "real_openverse_wmc_pretty2.json"))
    assert items == [] and len(pending) == 9 and cont2["gucontinue"].startswith("Niedercunnersdorf")
    assert {t[5:] for t in pending} == {it.source_id for it in first}


def test_single_page_and_audio_cut_out_of_real_responses():
    page = json.loads(real_bytes("wikimedia", "real_openverse_image_data_example.json"))
    (it,) = wikimedia.parse_imageinfo(json.dumps({"query": {"pages": [page]}}).encode())
    assert it.status == "ok" and it.source_id == "20120925 PlozevetBretagne LoneTree DSC07971 PtrQs.jpg"
    assert it.attribution.startswith("PtrQs") and it.license.startswith("CC-BY-SA")
    audio = json.loads(real_bytes("wikimedia", "real_openverse_audio_filedata_wav.json"))
    body = {"query": {"pages": [{"ns": 6, "title": "File:Nl-Javaanse herten.ogg", "imageinfo": [audio]}]}}
    (it,) = wikimedia.parse_imageinfo(json.dumps(body).encode())
    assert it.status == "skipped" and it.meta["mime"] == "audio/ogg"        # no extmetadata: no licence either
    audio["extmetadata"] = page["imageinfo"][0]["extmetadata"]
    (it,) = wikimedia.parse_imageinfo(json.dumps(body).encode())
    assert it.status == "skipped" and it.error == "not a raster image (audio/ogg)"


def test_real_listings_both_formatversions():
    titles, cont = wikimedia.parse_listing(real_bytes("wikimedia", "real_wptools_enwiki_categorymembers_cmlimit500_formatversion1.json"))
    assert titles == [] and cont is None                 # 92 articles (ns 0), no file among them
    data = json.loads(real_bytes("wikimedia", "real_wptools_enwiki_categorymembers_cmlimit500_formatversion1.json"))
    assert len(data["query"]["categorymembers"]) == 92
    titles, cont = wikimedia.parse_listing(real_bytes("wikimedia", "real_wptools_enwiki_categorymembers_cmcontinue_formatversion2_TRIMMED.json"))
    assert titles == [] and cont["cmcontinue"].endswith("|42525291") and cont["continue"] == "-||"


# -- the User-Agent contact --------------------------------------------------------------------------
def test_crawl_refuses_to_start_without_a_contact(tmp_path, monkeypatch):
    """Before: every request carried the placeholder ``mailto:medharvest@example.org``."""
    env = {k: v for k, v in os.environ.items() if k != "MEDHARVEST_CONTACT"}
    cmd = [sys.executable, "-m", "medharvest", "crawl", "wikimedia", "--out", str(tmp_path), "--base-url", "http://127.0.0.1:9"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "--contact" in proc.stderr and "MEDHARVEST_CONTACT" in proc.stderr
    proc = subprocess.run(cmd + ["--contact", "someone@example.org"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 2 and "placeholder" in proc.stderr
    assert not (tmp_path / "raw").exists()               # before any work


# -- a whole crawl -----------------------------------------------------------------------------------
def test_whole_crawl_on_real_responses(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDHARVEST_CONTACT", CONTACT)
    raw = json.loads(real_bytes("wikimedia", RAW))["query"]["pages"]
    pages = {p["title"]: p for p in raw.values()}
    shared = json.loads(real_bytes("wikimedia", SHARED))["query"]["pages"][0]
    pages[shared["title"]] = shared
    first_page = real_bytes("wikimedia", "real_wptools_enwiki_categorymembers_cmcontinue_formatversion2_TRIMMED.json")
    token = json.loads(first_page)["continue"]["cmcontinue"]
    members = [{"pageid": p.get("pageid", 0), "ns": 6, "title": t} for t, p in sorted(pages.items())]
    calls = []

    def api(req):
        q = {k: v[0] for k, v in req.query.items()}
        calls.append((q, req.headers.get("User-Agent", "")))
        if q.get("list") == "categorymembers":
            if not q.get("cmcontinue"):
                return Response(200, first_page, content_type="application/json; charset=utf-8")
            assert q["cmcontinue"] == token and q["continue"] == "-||"
            body = {"batchcomplete": True, "query": {"categorymembers": members}}
        else:   # imageinfo: the API cuts each batch after 6 files; the rest follow with iicontinue
            titles = q["titles"].split("|")
            start = titles.index(q["iicontinue"]) if q.get("iicontinue") else 0
            out = []
            for n, t in enumerate(titles):
                p = dict(pages[t])
                if not start <= n < start + 6:
                    p.pop("imageinfo", None)
                out.append(p)
            body = {"query": {"pages": out}}
            if start + 6 < len(titles):
                body["continue"] = {"iicontinue": titles[start + 6], "continue": "||"}
        return Response(200, json.dumps(body).encode(), content_type="application/json; charset=utf-8")

    jpg = (FILES / "photo_d.jpg").read_bytes()
    served = {}
    for title, p in pages.items():
        ii = p["imageinfo"][0]
        if ii["size"] <= 1_100_000:
            served[title[5:]] = jpg + b"\0" * (ii["size"] - len(jpg))    # a JPEG of the announced size
    with ReplayServer() as srv:
        srv.add_handler("/w/api.php", api)
        for title, data in served.items():
            srv.add(urlsplit(pages["File:" + title]["imageinfo"][0]["url"]).path, data, content_type="image/jpeg")
        summary = crawl("wikimedia", tmp_path, query="Category:Test", base_url=srv.url(),
                        options={"max_bytes": 1_100_000})
    assert all(CONTACT in ua and "example.org" not in ua for _, ua in calls)
    # 29 long titles in one batch (before: a 7 KB URL, over Scrapy's 2083 limit, silently dropped: 0 items)
    assert sum(1 for q, _ in calls if q.get("prop") == "imageinfo" and not q.get("iicontinue")) == 1
    assert sum(1 for q, _ in calls if q.get("iicontinue")) == 4         # cut after 6 files each time
    items = latest(tmp_path, "wikimedia")
    assert len(items) == 29
    ok = {k for k, it in items.items() if it.status == "ok"}
    assert ok == set(served) - {"QST (1915) (14571847418).jpg"}           # 8 Commons files + the shared one
    assert summary["status"] == {"ok": 9, "skipped": 20}
    assert Counter(it.error.split(" ")[0] for it in items.values() if it.status == "skipped") == {"file": 18, "licence": 2}
    d = items["Douglas adams portrait cropped.jpg"]
    assert d.license == "CC-BY-SA-2.0" and d.sha256 and d.file == "files/Douglas_adams_portrait_cropped.jpg"
    assert items["2002-04-02 Hauptstraße, Heidelberg IMG 0404.jpg"].license == "CC-BY-SA-3.0"


def test_contact_forms_and_other_sources(monkeypatch):
    from crawlers import physionet
    from crawlers.engine.spider import check_contact
    from manifests.errors import UsageError

    monkeypatch.delenv("MEDHARVEST_CONTACT", raising=False)
    assert check_contact("mailto:a.b@lab.example-university.edu") == "mailto:a.b@lab.example-university.edu"
    assert check_contact("https://lab.uni-hd.de/people/me") == "https://lab.uni-hd.de/people/me"
    for junk in ("me", "me@localhost", "ftp://x.org", "x@example.com"):
        with pytest.raises(UsageError):
            check_contact(junk)
    # optional elsewhere, used when given: PhysioNet keeps its Wget/ prefix (its Basic auth needs it)
    ua = physionet.Spider.user_agent_for({"contact": CONTACT})
    assert ua.startswith("Wget/") and f"mailto:{CONTACT}" in ua and "example.org" not in ua
    assert physionet.Spider.user_agent_for({}) == physionet.Spider.source_user_agent
    physionet.Spider.require_contact({})          # not required there

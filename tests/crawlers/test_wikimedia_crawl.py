"""Wikimedia Commons end to end through --base-url against the loopback replay server."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from crawlers.engine import crawl
from tests.crawlers.replay import ReplayServer, Response
from tests.crawlers.webfixtures import FIX, check_files, latest

pytestmark = pytest.mark.timeout(180)   # a hung crawl fails the test instead of the suite


@pytest.fixture(autouse=True)
def contact(monkeypatch):
    """crawl wikimedia needs the operator's contact for the User-Agent."""
    monkeypatch.setenv("MEDHARVEST_CONTACT", "radiology-data@uni-example-hospital.de")

W = FIX / "wikimedia"
PAGES = {p["title"]: p for name in ("imageinfo_1.json", "imageinfo_2.json")
         for p in json.loads((W / name).read_text())["query"]["pages"]}
FILES = {p["title"][5:]: (urlsplit(p["imageinfo"][0]["url"]).path, FIX / "files" / f)
         for p, f in zip(PAGES.values(), ("xray_a.png", "photo_d.jpg", "xray_b.png", "xray_c.png"))}


def serve(srv: ReplayServer, *, maxlag_first: int = 0, file_faults=None, file_always=None):
    calls = []
    state = {"lagged": maxlag_first}

    def api(req):
        q = {k: v[0] for k, v in req.query.items()}
        calls.append((q, req.headers.get("User-Agent", "")))
        if state["lagged"] > 0:
            state["lagged"] -= 1
            return Response(200, (W / "maxlag.json").read_bytes(), content_type="application/json; charset=utf-8",
                            headers={"Retry-After": "1", "X-Database-Lag": "6"})
        if q.get("list") == "categorymembers":
            name = "categorymembers_2.json" if q.get("cmcontinue") else "categorymembers_1.json"
            body = (W / name).read_bytes()
        elif q.get("list") == "search" and q.get("sroffset"):     # past the last hit: no results, no continue
            body = json.dumps({"batchcomplete": True, "query": {"searchinfo": {"totalhits": 2}, "search": []}}).encode()
        elif q.get("list") == "search":
            body = (W / "search_1.json").read_bytes()
        elif q.get("prop") == "imageinfo":
            pages = [PAGES[t] for t in q["titles"].split("|")]
            body = json.dumps({"batchcomplete": True, "query": {"pages": pages}}).encode()
        else:
            return Response(200, b'{"error": {"code": "badvalue", "info": "bad"}}', content_type="application/json")
        return Response(200, body, content_type="application/json; charset=utf-8")

    srv.add_handler("/w/api.php", api)
    for sid, (path, f) in FILES.items():
        srv.add_file(path, f, faults=(file_faults or {}).get(sid), always=(file_always or {}).get(sid))
    return calls


def test_category_crawl_follows_continue_filters_licences_and_verifies_sha1(tmp_path):
    with ReplayServer() as srv:
        calls = serve(srv, maxlag_first=1, file_faults={"Chest X-ray PA normal.png": ["corrupt", "html"]})
        summary = crawl("wikimedia", tmp_path, query="Category:Chest radiographs", base_url=srv.url())
        a_path = FILES["Chest X-ray PA normal.png"][0]
        assert srv.hits[a_path] == 3                       # wrong bytes (sha1 mismatch), HTML page, good
        assert srv.hits[FILES["Hand radiograph old scan.jpg"][0]] == 0   # GFDL: never downloaded
    queries = [q for q, _ in calls]
    assert all(q["maxlag"] == "5" and q["format"] == "json" for q in queries)
    assert all("medharvest" in ua and "mailto:radiology-data@uni-example-hospital.de" in ua for _, ua in calls)
    assert queries[0]["list"] == "categorymembers" and queries[0] == queries[1]   # maxlag -> same request again
    cont = [q for q in queries if q.get("cmcontinue")]
    assert cont and cont[0]["continue"] == "-||" and cont[0]["cmcontinue"].startswith("file|")
    expected = {sid: f.read_bytes() for sid, (_, f) in FILES.items() if sid != "Hand radiograph old scan.jpg"}
    check_files(tmp_path, "wikimedia", expected)
    items = latest(tmp_path, "wikimedia")
    assert items["Hand radiograph old scan.jpg"].status == "skipped"
    a = items["Chest X-ray PA normal.png"]
    assert a.license == "CC-BY-SA-4.0" and a.attribution == "Example Radiologist; Own work"
    assert a.text_kind == "description" and a.text.startswith("Normal posteroanterior chest radiograph")
    assert a.file == "files/Chest_X-ray_PA_normal.png"
    assert summary["status"] == {"ok": 3, "skipped": 1}


def test_search_crawl_with_licence_option_and_a_file_that_never_verifies(tmp_path):
    with ReplayServer() as srv:
        serve(srv, file_always={"Pneumothorax radiograph.png": "corrupt"})
        crawl("wikimedia", tmp_path, query="pneumothorax", base_url=srv.url(), options={"licences": "PD,CC-BY-SA"})
    items = latest(tmp_path, "wikimedia")
    assert sorted(items) == ["Chest X-ray PA normal.png", "Pneumothorax radiograph.png"]
    bad = items["Pneumothorax radiograph.png"]
    assert bad.status == "error" and bad.file is None and "sha1" in bad.error.lower()
    assert not (tmp_path / "raw/wikimedia/files/Pneumothorax_radiograph.png").exists()
    check_files(tmp_path, "wikimedia", {"Chest X-ray PA normal.png": FILES["Chest X-ray PA normal.png"][1].read_bytes()})


def test_unknown_licence_family_is_a_usage_error(tmp_path):
    import pytest

    from manifests.errors import UsageError

    with pytest.raises(UsageError, match="unknown licence 'GPL'"):
        crawl("wikimedia", tmp_path, base_url="http://127.0.0.1:9", options={"licences": "CC-BY,GPL"})


def test_cli_crawl_wikimedia_with_base_url_limit_and_licences(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    with ReplayServer() as srv:
        serve(srv)
        proc = subprocess.run(
            [sys.executable, "-m", "medharvest", "crawl", "wikimedia", "--out", str(tmp_path), "--base-url", srv.url(),
             "--query", "Category:Chest radiographs", "--limit", "2", "--licences", "CC-BY-SA,PD", "-q"],
            cwd=REPO, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr
    items = latest(tmp_path, "wikimedia")
    ok = sorted(sid for sid, it in items.items() if it.status == "ok")
    assert ok == ["Chest X-ray PA normal.png", "Pneumothorax radiograph.png"]
    assert items["Hand radiograph old scan.jpg"].status == "skipped"
    assert (tmp_path / "raw" / "wikimedia" / "run.json").is_file()


def test_kill_9_mid_crawl_then_rerun_gives_every_file_once_and_correct(tmp_path):
    import collections
    import json as _json
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    items_path = tmp_path / "raw" / "wikimedia" / "items.jsonl"
    with ReplayServer(slow_seconds=3.0) as srv:
        serve(srv, file_faults={"Lateral chest X-ray.png": ["slow"], "Pneumothorax radiograph.png": ["slow"]})
        cmd = [sys.executable, "-m", "medharvest", "crawl", "wikimedia", "--out", str(tmp_path),
               "--base-url", srv.url(), "--query", "Category:Chest radiographs", "-q"]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline and not (items_path.exists() and items_path.read_bytes().count(b"\n") >= 1):
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)            # kill -9 while the slow files are in flight
        proc.wait(timeout=30)
        done_before = items_path.read_bytes().count(b"\n")
        assert 1 <= done_before < 4, "the kill must land mid-crawl"
        rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=150)
        assert rerun.returncode == 0, rerun.stderr
    expected = {sid: f.read_bytes() for sid, (_, f) in FILES.items() if sid != "Hand radiograph old scan.jpg"}
    check_files(tmp_path, "wikimedia", expected)        # every file present, byte-exact, sha256 recorded
    ok_lines = collections.Counter(d["source_id"] for d in map(_json.loads, items_path.read_text().splitlines())
                                   if d["status"] == "ok")
    assert set(ok_lines) == set(expected) and max(ok_lines.values()) == 1   # nothing written twice

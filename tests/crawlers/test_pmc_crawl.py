"""PMC end to end (esearch history server -> efetch JATS -> oa.fcgi -> figures) on the replay server."""

from __future__ import annotations

import pytest

from crawlers.engine import crawl
from tests.crawlers.replay import ReplayServer, Response
from tests.crawlers.webfixtures import FIX, check_files, latest

pytestmark = pytest.mark.timeout(180)   # a hung crawl fails the test instead of the suite

P = FIX / "pmc"
FIGS = {
    "PMC9100001/fig1": ("/pmc/articles/PMC9100001/bin/gr1.jpg", FIX / "files" / "figure_e.jpg"),
    "PMC9100001/fig2": ("/pmc/articles/PMC9100001/bin/gr2.jpg", FIX / "files" / "figure_f.jpg"),
    "PMC9100002/diagnostics-12-00002-f001": ("/pmc/articles/PMC9100002/bin/diagnostics-12-00002-g001.jpg",
                                             FIX / "files" / "photo_d.jpg"),
}
KEY = "s3cr3t-ncbi-key-0123456789"


def serve(srv: ReplayServer, *, efetch_faults=None, oa_faults=None, fig_faults=None):
    calls: list[tuple[str, dict]] = []

    def eutil(name):
        def fn(req):
            q = {k: v[0] for k, v in req.query.items()}
            calls.append((name, q))
            if q.get("db") != "pmc":
                return Response(200, (P / "esearch_error.xml").read_bytes(), content_type="text/xml")
            if name == "esearch":
                return Response(200, (P / "esearch.xml").read_bytes(), content_type="text/xml; charset=UTF-8")
            if q.get("WebEnv") != "MCID_6741c2a1f2b5d03bb70a1a2e" or q.get("query_key") != "1":
                return Response(200, b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>",
                                content_type="text/xml")
            return Response(200, (P / "efetch_1.xml").read_bytes(), content_type="text/xml; charset=UTF-8")
        return fn

    def oa(req):
        pmcid = req.query["id"][0]
        calls.append(("oa", {"id": pmcid}))
        return Response(200, (P / f"oa_{pmcid}.xml").read_bytes(), content_type="text/xml")

    srv.add_handler("/entrez/eutils/esearch.fcgi", eutil("esearch"))
    srv.add_handler("/entrez/eutils/efetch.fcgi", eutil("efetch"), faults=efetch_faults)
    srv.add_handler("/pmc/utils/oa/oa.fcgi", oa, faults=oa_faults)
    for sid, (path, f) in FIGS.items():
        srv.add_file(path, f, content_type="image/jpeg", faults=(fig_faults or {}).get(sid))
    return calls


def test_pmc_crawl_keeps_oa_cc_figures_with_captions(tmp_path, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", KEY)
    with ReplayServer() as srv:
        calls = serve(srv, efetch_faults=["html"], oa_faults=["503"],
                      fig_faults={"PMC9100001/fig2": ["reset", "truncate"]})
        summary = crawl("pmc", tmp_path, query="pneumothorax", base_url=srv.url(), options={"email": "lab@example.org"})
        assert srv.hits["/entrez/eutils/efetch.fcgi"] == 2          # HTML error page with 200 first, then the JATS
        assert srv.hits["/pmc/utils/oa/oa.fcgi"] == 3                # 503, then one per article with figures (2)
    search = [q for n, q in calls if n == "esearch"][0]
    assert search["usehistory"] == "y" and search["tool"] == "medharvest" and search["email"] == "lab@example.org"
    assert search["term"] == "(pneumothorax) AND open access[filter]"
    assert all(q.get("api_key") == KEY for n, q in calls if n in ("esearch", "efetch"))
    check_files(tmp_path, "pmc", {sid: f.read_bytes() for sid, (_, f) in FIGS.items()})
    items = latest(tmp_path, "pmc")
    f1 = items["PMC9100001/fig1"]
    assert f1.text.startswith("Fig. 1 Posteroanterior chest radiograph") and f1.text_kind == "caption"
    assert f1.license == "CC-BY-4.0" and f1.study_id == "PMC9100001"
    assert f1.attribution.endswith("doi:10.1016/j.radcr.2022.000001")
    assert f1.file == "files/PMC9100001/gr1.jpg"
    assert items["PMC9100003/-"].status == "skipped"                 # not OA: nothing downloaded
    assert summary["status"] == {"ok": 3, "skipped": 1}
    # the API key is a secret: nowhere on disk
    for path in (tmp_path / "raw").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_pmc_not_open_access_article_is_never_fetched_and_rerun_is_a_no_op(tmp_path):
    with ReplayServer() as srv:
        calls = serve(srv)
        crawl("pmc", tmp_path, base_url=srv.url())
        assert not any("PMC9100003" in p for p, *_ in srv.log if "/bin/" in p)
        hits = {path: srv.hits[path] for path, _ in FIGS.values()}
        crawl("pmc", tmp_path, base_url=srv.url())
        assert {path: srv.hits[path] for path, _ in FIGS.values()} == hits    # nothing downloaded twice
    assert all("api_key" not in q for _, q in calls)
    assert [it.status for it in latest(tmp_path, "pmc").values()].count("ok") == 3


def test_pmc_limit(tmp_path):
    with ReplayServer() as srv:
        serve(srv)
        crawl("pmc", tmp_path, base_url=srv.url(), limit=1)
    ok = [sid for sid, it in latest(tmp_path, "pmc").items() if it.status == "ok"]
    assert len(ok) == 1


def test_cli_log_and_run_json_never_show_the_api_key(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    with ReplayServer() as srv:
        calls = serve(srv, efetch_faults=["503"])      # a retried request is logged at debug level too
        proc = subprocess.run(
            [sys.executable, "-m", "medharvest", "-vv", "crawl", "pmc", "--out", str(tmp_path), "--base-url", srv.url(),
             "--query", "pneumothorax", "-q"],
            cwd=REPO, capture_output=True, text=True, timeout=150, env={**os.environ, "NCBI_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(q.get("api_key") == KEY for n, q in calls if n == "efetch")    # the key was used ...
    assert KEY not in proc.stdout and KEY not in proc.stderr                    # ... and never printed
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path

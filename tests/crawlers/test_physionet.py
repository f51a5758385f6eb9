"""PhysioNet source: parsers on the real recorded fixtures; the spider end to end on a fake MIMIC tree."""

from __future__ import annotations

import json

import pytest

from crawlers import physionet
from crawlers.engine import crawl
from manifests.errors import StageError
from manifests.raw import RawStore
from tests.crawlers import physionet_tree
from tests.crawlers.replay import ReplayServer

FIX = ("fixtures", "sources", "physionet")


@pytest.mark.shared
def test_autoindex_real_listing_crlf(shared):
    body = (shared(*FIX) / "files_index_mimiciii_1.4_autoindex.html").read_bytes()
    assert b"\r\n" in body
    entries = physionet.parse_autoindex(body)
    names = [e.name for e in entries]
    assert "ADMISSIONS.csv.gz" in names and "../" not in names
    chart = next(e for e in entries if e.name == "CHARTEVENTS.csv.gz")
    assert chart.size == 4287004212 and not chart.is_dir and chart.modified == "19-Mar-2019 14:48"


@pytest.mark.shared
def test_sha256sums_real_format(shared):
    sums = physionet.parse_sha256sums((shared(*FIX) / "demoeicu_2.0.0_SHA256SUMS.txt").read_bytes())
    assert sums["patient.csv"] == "71573b922a87abc3fd1a957f2cfa09d9e16998567dd878a85e12166112751806"
    assert all(len(v) == 64 for v in sums.values())


@pytest.mark.shared
def test_split_and_labels_real_headers(shared):
    split = physionet.parse_split((shared(*FIX) / "mimic-cxr-2.0.0-split_head_reconstructed.csv").read_bytes())
    assert split["02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"] == "train"
    labels = physionet.parse_labels((shared(*FIX) / "mimic-cxr-2.0.0-negbio_head_reconstructed.csv").read_bytes())
    assert labels["50414267"]["No Finding"] == "positive"
    assert labels["50414267"]["Pneumonia"] == "not_mentioned"
    meta = physionet.parse_metadata((shared(*FIX) / "mimic-cxr-2.0.0-metadata_head_reconstructed.csv").read_bytes())
    assert meta["174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962"]["ViewPosition"] == "LATERAL"


def test_report_and_image_paths():
    rec = {"path": "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm"}
    assert physionet.report_path(rec) == "files/p10/p10000032/s50414267.txt"
    assert physionet.image_path(rec["path"], "mimic-cxr-jpg").endswith("4e384014.jpg")
    assert physionet.image_path(rec["path"], "mimic-cxr") == rec["path"]


@pytest.fixture
def creds(monkeypatch, tmp_path):
    monkeypatch.setenv("PHYSIONET_USERNAME", physionet_tree.USER)
    monkeypatch.setenv("PHYSIONET_PASSWORD", physionet_tree.PASSWORD)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def test_crawl_end_to_end(tmp_path, creds):
    fake = physionet_tree.build(6)
    with ReplayServer() as srv:
        physionet_tree.serve(srv, fake)
        summary = crawl("physionet", tmp_path, base_url=srv.url(), limit=5)
        assert summary["status"] == {"ok": 5}
        uas = {h.get("User-Agent", "") for _, _, h in srv.log}
        assert all(ua.startswith("Wget/") for ua in uas)
        # re-run: nothing fetched again
        before = sum(v for k, v in srv.hits.items() if k.endswith(".jpg"))
        summary2 = crawl("physionet", tmp_path, base_url=srv.url(), limit=5)
        after = sum(v for k, v in srv.hits.items() if k.endswith(".jpg"))
    assert after == before and summary2["status"] == {"ok": 5}
    store = RawStore(tmp_path, "physionet")
    items = list(store.latest().values())
    assert len(items) == 5
    for it in items:
        data = store.resolve(it).read_bytes()
        rel = it.file.split("mimic-cxr-jpg/2.1.0/")[1]
        assert data == fake.images[rel]
        assert it.text and "FINAL REPORT" in it.text and it.text_kind == "report"
        assert it.license == physionet.LICENSE and it.patient_id and it.study_id
        assert it.view in ("PA", "LATERAL") and it.split in ("train", "validate", "test")
        assert set(it.labels) == set(physionet.CHEXPERT14)
    text = (store.items_path.read_text() + (store.root / "stats.json").read_text())
    assert physionet_tree.PASSWORD not in text and "Authorization" not in text
    jobdir = store.root / ".jobdir"
    for p in jobdir.rglob("*"):
        if p.is_file():
            assert physionet_tree.PASSWORD.encode() not in p.read_bytes()


def test_401_and_403_are_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("PHYSIONET_USERNAME", raising=False)
    monkeypatch.delenv("PHYSIONET_PASSWORD", raising=False)
    fake = physionet_tree.build(2)
    with ReplayServer() as srv:
        physionet_tree.serve(srv, fake)
        with pytest.raises(StageError, match="401: credentials rejected or not sent.*Wget"):
            crawl("physionet", tmp_path / "a", base_url=srv.url())
        monkeypatch.setenv("PHYSIONET_USERNAME", physionet_tree.USER)
        monkeypatch.setenv("PHYSIONET_PASSWORD", physionet_tree.PASSWORD)
        srv.gate = physionet_tree.physionet_gate(no_dua={physionet_tree.USER})
        with pytest.raises(StageError, match="403: your account has not signed the data use agreement"):
            crawl("physionet", tmp_path / "b", base_url=srv.url())


def test_netrc_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("PHYSIONET_USERNAME", raising=False)
    monkeypatch.delenv("PHYSIONET_PASSWORD", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {physionet_tree.USER} password {physionet_tree.PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    fake = physionet_tree.build(2)
    with ReplayServer() as srv:
        physionet_tree.serve(srv, fake)
        summary = crawl("physionet", tmp_path, base_url=srv.url())
    assert summary["status"] == {"ok": 2}
    run = json.loads((tmp_path / "raw" / "physionet" / "stats.json").read_text())
    assert run["items"] == 2


def test_cli_run_json_has_no_secrets_and_metadata_retries(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    fake = physionet_tree.build(3)
    env = {**os.environ, "PHYSIONET_USERNAME": physionet_tree.USER, "PHYSIONET_PASSWORD": physionet_tree.PASSWORD,
           "NETRC": str(tmp_path / "none"), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with ReplayServer(retry_after="0") as srv:
        physionet_tree.serve(srv, fake, faults={"/mimic-cxr/2.0.0/cxr-record-list.csv.gz": ["503", "429"],
                                                "/mimic-cxr-jpg/2.1.0/SHA256SUMS.txt": ["500"]})
        out = subprocess.run([sys.executable, "-m", "medharvest", "crawl", "physionet", "--out", str(tmp_path),
                              "--base-url", srv.url(), "-q"], env=env, capture_output=True, text=True, timeout=120)
        hits = srv.hits["/mimic-cxr/2.0.0/cxr-record-list.csv.gz"]
    assert out.returncode == 0, out.stderr
    assert hits == 3
    assert json.loads(out.stdout.strip().splitlines()[-1])["items"] == 3
    run = (tmp_path / "raw" / "physionet" / "run.json").read_text()
    assert physionet_tree.PASSWORD not in run and physionet_tree.USER not in run
    assert json.loads(run)["summary"]["status"] == {"ok": 3}
    assert physionet_tree.PASSWORD not in out.stdout + out.stderr


def test_resume_with_verify_refetches_a_damaged_file(tmp_path, creds):
    fake = physionet_tree.build(3)
    with ReplayServer() as srv:
        physionet_tree.serve(srv, fake)
        crawl("physionet", tmp_path, base_url=srv.url())
        store = RawStore(tmp_path, "physionet")
        victim = next(iter(store.latest().values()))
        path = store.resolve(victim)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF  # same size, different content
        path.write_bytes(bytes(data))
        crawl("physionet", tmp_path, base_url=srv.url())  # size-only check: not noticed
        assert path.read_bytes() == bytes(data)
        summary = crawl("physionet", tmp_path, base_url=srv.url(), options={"verify": True})
    assert summary["status"] == {"ok": 3}
    rel = victim.file.split("mimic-cxr-jpg/2.1.0/")[1]
    assert path.read_bytes() == fake.images[rel]
    ok_lines = [it.source_id for it in store.iter_items() if it.status == "ok"]
    assert ok_lines.count(victim.source_id) == 2 and len(store.latest()) == 3


@pytest.mark.shared
def test_browse_lists_an_autoindex_directory(tmp_path, creds, shared):
    listing = (shared(*FIX) / "files_index_mimiciii_1.4_autoindex.html").read_bytes()
    with ReplayServer() as srv:
        srv.add("/mimic-cxr-jpg/2.1.0/files/", listing, content_type="text/html")
        srv.gate = physionet_tree.physionet_gate()
        summary = crawl("physionet", tmp_path, base_url=srv.url(), options={"browse": "files"})
    assert summary["items"] == 0
    out = json.loads((tmp_path / "raw" / "physionet" / "listing.json").read_text())
    names = {e["name"]: e for e in out["entries"]}
    assert names["CHARTEVENTS.csv.gz"]["size"] == 4287004212 and len(names) > 20

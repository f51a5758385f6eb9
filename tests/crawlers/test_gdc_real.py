"""GDC on real recorded API responses and manifests (../shared/fixtures/sources/gdc): per file, then
whole manifest crawls through --base-url, one of them during a /files metadata outage."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from crawlers import gdc
from crawlers.engine import crawl
from manifests.raw import RawStore
from tests.crawlers.realfix import real, real_bytes
from tests.crawlers.replay import Response

pytestmark = [pytest.mark.shared, pytest.mark.timeout(180)]

FIELDS = "files_fields_submitter_id_file_id_file_name_file_size.json"


@pytest.mark.parametrize("name, n_hits, total, page, pages", [
    ("files_from0_size2_sort_file_size_asc.json", 2, None, 1, None),
    ("files_fields_file_name_from0_size2.json", 2, None, 1, None),
    ("files_fields_file_name_from101_size5.json", 5, None, 21, None),
    (FIELDS, 10, 931947, 1, 93195),
    ("cases_filter_submitter_id_TCGA-BH-A0EA.json", 1, 1, 1, 1),
    ("cases_fields_submitter_id_sort_size5_compact.json", 5, None, 1, None),
    ("projects_from0_size2_sort_project_id.json", 2, None, 1, None),
])
def test_real_search_pages(name, n_hits, total, page, pages):
    hits, pag = gdc.parse_page(real_bytes("gdc", name))
    assert len(hits) == n_hits and pag["page"] == page
    if total is not None:
        assert (pag["total"], pag["pages"]) == (total, pages)


def test_real_file_hits_give_patient_and_names():
    hits, _ = gdc.parse_page(real_bytes("gdc", FIELDS))
    svs = [h for h in hits if h["file_name"].endswith(".svs")]
    assert [h["file_name"] for h in svs] == ["TCGA-AN-A0FL-01Z-00-DX1.20A041C6-A306-4599-A7D1-65032A252AA9.svs"]
    assert svs[0]["file_size"] == 1055798681
    assert gdc.case_info(svs[0]["cases"][0])["submitter_id"] == "TCGA-AN-A0FL"
    case = json.loads(real_bytes("gdc", "files_uuid_573ee7e9_expand_cases.samples.json"))["data"]["cases"][0]
    info = gdc.case_info(case)       # expand=cases.samples: the samples' ids, no case id of its own
    assert info["case_id"] is None and info["submitter_id"] is None and case["samples"][0]["submitter_id"].startswith("TCGA-")


def test_real_manifests_both_layouts():
    rows = gdc.parse_manifest(real("gdc", "gdc_manifest_svs_TCGA_example.txt").read_text())
    assert len(rows) == 12 and all(r.filename.endswith(".svs") and r.state == "released" for r in rows)
    assert sum(r.size for r in rows) == sum(int(line.split("\t")[3]) for line in
                                          real("gdc", "gdc_manifest_svs_TCGA_example.txt").read_text().splitlines()[1:] if line)
    # before: the release-notes layout (file_name / md5sum / file_size) was refused as "expected columns"
    notes = gdc.parse_manifest(real("gdc", "release_notes_manifest_CPTAC-3_WXS_MAFs_head.tsv").read_text())
    assert [(r.id[:8], r.size, r.md5[:6]) for r in notes] == [
        ("21762c82", 157552, "9828d9"), ("3bc87d89", 13263, "77609c"), ("56d1ff72", 134555, "c71941"),
        ("650494a4", 324199, "6eecaa")]


def test_real_error_bodies():
    assert "invalid or expired" in gdc.error_hint(403, real_bytes("gdc", "error_slicing_token_invalid.json"))
    assert "GDC_TOKEN" in gdc.error_hint(403, real_bytes("gdc", "error_403_no_access_specify_token.json"))


# -- whole crawls ----------------------------------------------------------------------------------
def _manifest(tmp_path, rows: list[tuple[str, str]]) -> tuple[str, dict[str, bytes]]:
    """A manifest with the real ids and names; md5/size of the bytes served here (the real slides are GBs)."""
    blobs = {fid: b"II*\x00" + hashlib.sha256(fid.encode()).digest() * 40 + os.urandom(64) for fid, _ in rows}
    lines = ["id\tfilename\tmd5\tsize\tstate"]
    lines += [f"{fid}\t{name}\t{hashlib.md5(blobs[fid]).hexdigest()}\t{len(blobs[fid])}\treleased" for fid, name in rows]
    path = tmp_path / "gdc_manifest.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path), blobs


def _serve_data(srv, blobs: dict[str, bytes], names: dict[str, str]):
    def data(req):
        fid = req.path.rsplit("/", 1)[1]
        if fid not in blobs:
            return Response(404, b'{"message": "File not found"}', content_type="application/json")
        return Response(200, blobs[fid], {"Content-Disposition": f"attachment; filename={names[fid]}"},
                        "application/octet-stream")
    srv.add("/status", real_bytes("gdc", "status.json"), content_type="application/json")
    srv.add_handler("/data/", data, prefix=True)


def test_manifest_crawl_with_real_file_metadata(tmp_path, monkeypatch):
    from tests.crawlers.replay import ReplayServer

    monkeypatch.delenv("GDC_TOKEN", raising=False)
    hits, _ = gdc.parse_page(real_bytes("gdc", FIELDS))
    names = {h["file_id"]: h["file_name"] for h in hits}
    manifest, blobs = _manifest(tmp_path, list(names.items()))
    with ReplayServer() as srv:
        _serve_data(srv, blobs, names)
        srv.add("/files", real_bytes("gdc", FIELDS), content_type="application/json")
        srv.routes["/files"].methods = ("POST",)
        summary = crawl("gdc", tmp_path / "out", base_url=srv.url(), options={"manifest": manifest})
    assert summary["status"] == {"ok": 10}
    store = RawStore(tmp_path / "out", "gdc")
    items = store.latest()
    for fid, name in names.items():
        it = items[fid]
        assert store.resolve(it).name == name and store.resolve(it).read_bytes() == blobs[fid]
        assert "warnings" not in it.meta
    assert items["d570eccc-3c1c-4c4f-ae04-96be71fbe016"].patient_id == "TCGA-AN-A0FL"


def test_manifest_crawl_survives_a_files_metadata_outage(tmp_path, monkeypatch):
    """Before: POST /files answering 503 every time stopped the crawl: 0 of the manifest's files."""
    from tests.crawlers.replay import ReplayServer

    monkeypatch.delenv("GDC_TOKEN", raising=False)
    rows = gdc.parse_manifest(real("gdc", "gdc_manifest_svs_TCGA_example.txt").read_text())
    names = {r.id: r.filename for r in rows}
    manifest, blobs = _manifest(tmp_path, list(names.items()))
    with ReplayServer() as srv:
        _serve_data(srv, blobs, names)
        srv.add("/files", b"HTTP 503\n", always="503").methods = ("POST",)
        summary = crawl("gdc", tmp_path / "out", base_url=srv.url(), options={"manifest": manifest})
        assert srv.hits["/files"] >= 2                         # retried, then given up on
    assert summary["status"] == {"ok": 12}
    store = RawStore(tmp_path / "out", "gdc")
    for fid, it in store.latest().items():
        assert store.resolve(it).read_bytes() == blobs[fid] and store.resolve(it).name == names[fid]
        (warning,) = it.meta["warnings"]
        assert "metadata unavailable" in warning and "503" in warning
    # a search (no manifest) cannot work without /files: that is a clear stop, not an empty success
    with ReplayServer() as srv:
        _serve_data(srv, blobs, names)
        srv.add("/files", b"HTTP 503\n", always="503").methods = ("POST",)
        from manifests.errors import StageError
        with pytest.raises(StageError, match="503"):
            crawl("gdc", tmp_path / "search", base_url=srv.url(), query="TCGA-BRCA")

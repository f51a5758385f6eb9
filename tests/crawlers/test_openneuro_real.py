"""OpenNeuro on real recorded GraphQL responses (../shared/fixtures/sources/openneuro): per file, then a
whole crawl of ds000001 on the real root listing (OpenNeuro 4.43.1) and the real sub-01 tree."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest
from nibabel.testing import data_path

from crawlers import openneuro
from crawlers.engine import crawl
from manifests.raw import RawStore
from tests.crawlers.realfix import real, real_bytes
from tests.crawlers.replay import ReplayServer, Response

pytestmark = [pytest.mark.shared, pytest.mark.timeout(180)]

ROOT = "real_openneuroR_snapshot_files_root_with_key_2026-01.json"
HAND = Path(__file__).parent / "fixtures" / "openneuro"


def test_real_latest_tag_and_legacy_snapshot_tags():
    assert openneuro.parse_latest_tag(real_bytes("openneuro", "real_openneuroR_dataset_ds000001_latestSnapshot_tag.json")) == "1.0.0"
    snaps = json.loads(real_bytes("openneuro", "real_openneuroR_dataset_ds000001_snapshots_list.json"))["data"]["dataset"]["snapshots"]
    for s in snaps:                         # legacy tags (ObjectIds, "00006") are valid --query tags
        assert openneuro.parse_query(f"ds000001:{s['tag']}") == ("ds000001", s["tag"])


def test_real_root_listing_4_43():
    desc, files = openneuro.parse_snapshot(real_bytes("openneuro", ROOT))
    assert desc == {} and len(files) == 21
    dirs = [f for f in files if f["directory"]]
    assert [f["filename"] for f in dirs] == [f"sub-{i:02d}" for i in range(1, 17)]
    # the tree to list a directory is its key (= the tree id in OpenNeuro's own docs), not its id
    sub01 = dirs[0]
    assert sub01["id"] != sub01["key"] and openneuro.tree_of(sub01) == "db72baeb3665a309db35d6ef649e117eb45a8a87"
    docs_desc, docs = openneuro.parse_snapshot(real_bytes("openneuro", "real_docs_api_md_snapshot_files_root_ds000001.json"))
    assert openneuro.tree_of(next(f for f in docs if f["directory"])) == openneuro.tree_of(sub01)
    # no urls in these answers: the snapshot file endpoint is used
    assert openneuro.file_url("https://openneuro.org", "ds000001", "1.0.0", "sub-01/anat/sub-01_T1w.nii.gz", None) == \
        "https://openneuro.org/crn/datasets/ds000001/snapshots/1.0.0/files/sub-01:anat:sub-01_T1w.nii.gz"
    assert all(openneuro.annex_checksum(f["key"]) == (None, None) for f in files)     # git hashes, not annex keys


def test_real_urls_repaired_or_replaced():
    text = real("openneuro", "real_github_issue_snippets_TRANSCRIBED_FRAGMENTS.txt").read_text()
    escaped = re.search(r'"(https://s3\.amazonaws\.com/openneuro\.org/ds000248/[^"]+)"', text).group(1)
    assert "versionId%3D" in escaped                          # OpenNeuro issue #2521, as the API sent it
    assert openneuro.fix_url(escaped).endswith("sub-01_T1w.nii.gz?versionId=8uTXIQ10Blcp2GeAVJJCHL5PimkSaQZL")
    good = re.search(r'"(https://s3\.amazonaws\.com/openneuro\.org/ds000247/README\?versionId=[^"]+)"', text).group(1)
    assert openneuro.fix_url(good) == good
    # the doubtful capture: object URLs with an empty object id cannot be fetched
    _, files = openneuro.parse_snapshot(real_bytes("openneuro", "real_openneuroR_snapshot_files_root_with_urls_SUSPECT.json"))
    readme = next(f for f in files if f["filename"] == "README")
    assert readme["urls"] == ["https://openneuro.org/crn/datasets/ds000001/objects/?filename=README"]
    assert openneuro.file_url("http://m", "ds000001", "1.0.0", "README", readme["urls"]) == \
        "http://m/crn/datasets/ds000001/snapshots/1.0.0/files/README"
    # urls: [] (issue #1064) is the same as none
    assert openneuro.file_url("http://m", "ds001499", "1.3.0", "sub-CSI3/sub-CSI3_sessions.tsv", []).endswith(
        "/files/sub-CSI3:sub-CSI3_sessions.tsv")


def test_real_summary():
    doc = json.loads(real_bytes("openneuro", "real_openneuroR_snapshot_summary_subjects.json"))
    assert len(doc["data"]["snapshot"]["summary"]["subjects"]) == 16 and doc["data"]["snapshot"]["summary"]["totalFiles"] == 1024


def test_whole_crawl_on_the_real_listings(tmp_path):
    """Before: sub-01 was listed with its id (the server knows no such tree) and every file without
    ``urls`` was dropped: 0 items from the real answers."""
    t1w = gzip.compress(Path(data_path, "anatomical.nii").read_bytes(), mtime=0)
    key = f"SHA256E-s{len(t1w)}--{hashlib.sha256(t1w).hexdigest()}.nii.gz"
    root = json.loads(real_bytes("openneuro", ROOT))
    sub01 = json.loads(real_bytes("openneuro", "real_docs_api_md_snapshot_files_tree_sub-01_ds000001.json"))
    anat_id = sub01["data"]["snapshot"]["files"][0]["id"]
    # the leaf (no recorded answer lists sub-01/anat): the 4.43 shape, an annexed NIfTI without urls
    anat = {"data": {"snapshot": {"files": [{"id": "0" * 40, "key": key, "filename": "sub-01_T1w.nii.gz",
                                             "size": len(t1w), "directory": False, "annexed": True}]}}}
    empty = {"data": {"snapshot": {"files": []}}}
    trees = []

    def graphql(req):
        body = req.json()
        if "latestSnapshot" in body["query"]:
            return Response(200, real_bytes("openneuro", "real_openneuroR_dataset_ds000001_latestSnapshot_tag.json"),
                            content_type="application/json")
        tree = body["variables"].get("tree")
        trees.append(tree)
        doc = {None: root, "db72baeb3665a309db35d6ef649e117eb45a8a87": sub01, anat_id: anat}.get(tree, empty)
        return Response(200, json.dumps(doc).encode(), content_type="application/json")

    files = "/crn/datasets/ds000001/snapshots/1.0.0/files/"
    with ReplayServer() as srv:
        srv.add_handler("/crn/graphql", graphql, methods=("POST",))
        srv.add(files + "dataset_description.json", (HAND / "dataset_description.json").read_bytes(), content_type="application/json")
        srv.add(files + "participants.tsv", (HAND / "participants.tsv").read_bytes(), content_type="text/tab-separated-values")
        srv.add(files + "sub-01:anat:sub-01_T1w.nii.gz", t1w, content_type="application/octet-stream")
        summary = crawl("openneuro", tmp_path, query="ds000001", base_url=srv.url())
    assert trees[0] is None and "db72baeb3665a309db35d6ef649e117eb45a8a87" in trees and anat_id in trees
    assert len(trees) == 1 + 16 + 2                               # root, every subject, sub-01's anat and func
    assert summary["status"] == {"ok": 1}
    store = RawStore(tmp_path, "openneuro")
    (it,) = store.latest().values()
    assert it.source_id == "ds000001:1.0.0:sub-01/anat/sub-01_T1w.nii.gz" and store.resolve(it).read_bytes() == t1w
    assert it.sha256 == hashlib.sha256(t1w).hexdigest() and it.modality == "MR" and it.patient_id == "ds000001:sub-01"
    assert it.license == "CC0" and "Participant:" in it.text and it.meta["annex_key"] == key

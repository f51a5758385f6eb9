"""OpenNeuro source: GraphQL parsing on the schema-shaped fixtures, end to end on a fake API."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from nibabel.testing import data_path

from crawlers import openneuro
from crawlers.engine import crawl
from manifests.errors import StageError, UsageError
from manifests.raw import RawStore
from tests.crawlers.replay import ReplayServer, Request, Response

FIX = Path(__file__).parent / "fixtures" / "openneuro"
REAL = "https://openneuro.org"
FILES = {  # URL path after /crn/datasets/ds000001/snapshots/1.0.0/files/ -> payload
    "dataset_description.json": (FIX / "dataset_description.json").read_bytes(),
    "participants.tsv": (FIX / "participants.tsv").read_bytes(),
    "task-balloonanalogrisktask_bold.json": (FIX / "task-balloonanalogrisktask_bold.json").read_bytes(),
    "sub-01:anat:sub-01_T1w.json": (FIX / "sub-01_T1w.json").read_bytes(),
    "sub-01:anat:sub-01_T1w.nii": Path(data_path, "anatomical.nii").read_bytes(),
    "sub-01:func:sub-01_task-balloonanalogrisktask_run-01_bold.nii.gz": Path(data_path, "example4d.nii.gz").read_bytes(),
    "sub-02:anat:sub-02_T1w.nii": Path(data_path, "anatomical.nii").read_bytes(),
}


def fake_api(srv: ReplayServer, *, tag: str = "1.0.0", faults: dict | None = None) -> None:
    base = srv.url()

    def graphql(req: Request) -> Response:
        body = req.json()
        if "latestSnapshot" in body["query"]:
            doc = json.loads((FIX / "dataset_ds000001.json").read_text())
            doc["data"]["dataset"]["latestSnapshot"]["tag"] = tag
            return Response(200, json.dumps(doc).encode(), content_type="application/json")
        tree = body["variables"].get("tree")
        name = "snapshot_files_root.json" if tree is None else f"snapshot_files_tree_{tree[:8]}.json"
        text = (FIX / name).read_text().replace(REAL, base)
        return Response(200, text.encode(), content_type="application/json")

    srv.add_handler("/crn/graphql", graphql, methods=("POST",))
    for rel, data in FILES.items():
        path = f"/crn/datasets/ds000001/snapshots/1.0.0/files/{rel}"
        srv.add(path, data, content_type="application/octet-stream", faults=(faults or {}).get(rel))


def test_parse_schema_shaped_responses():
    assert openneuro.parse_latest_tag((FIX / "dataset_ds000001.json").read_bytes()) == "1.0.0"
    desc, files = openneuro.parse_snapshot((FIX / "snapshot_files_root.json").read_bytes())
    assert desc["License"] == "CC0" and {f["filename"] for f in files} >= {"dataset_description.json", "sub-01"}
    assert [f["directory"] for f in files if f["filename"] == "sub-01"] == [True]
    with pytest.raises(ValueError, match="not found"):
        openneuro.parse_snapshot(b'{"data": {"snapshot": null}}')


def test_annex_keys_globs_sidecars_and_query():
    data = FILES["sub-01:anat:sub-01_T1w.nii"]
    key = f"SHA256E-s{len(data)}--{hashlib.sha256(data).hexdigest()}.nii"
    assert openneuro.annex_checksum(key) == (f"sha256:{hashlib.sha256(data).hexdigest()}", len(data))
    assert openneuro.annex_checksum("MD5E-s10--0123456789abcdef0123456789abcdef.nii.gz")[0].startswith("md5:")
    assert openneuro.annex_checksum("3f2a1b") == (None, None)
    assert openneuro.selected("sub-01/anat/sub-01_T1w.nii", ["*.nii"], [])
    assert not openneuro.selected("sub-01/anat/sub-01_T1w.nii", ["*.nii"], ["sub-01/*"])
    assert openneuro.sidecar_for("sub-01/anat/sub-01_T1w.nii", {"sub-01/anat/sub-01_T1w.json"}) == "sub-01/anat/sub-01_T1w.json"
    assert openneuro.sidecar_for("sub-01/func/sub-01_task-x_run-01_bold.nii.gz", {"task-x_bold.json"}) == "task-x_bold.json"
    assert openneuro.parse_query("ds000001:1.0.0") == ("ds000001", "1.0.0")
    with pytest.raises(UsageError):
        openneuro.parse_query("ds1")
    assert openneuro.parse_participants((FIX / "participants.tsv").read_bytes())["sub-02"] == {"sex": "M"}


def test_crawl_end_to_end_with_globs_and_faults(tmp_path):
    with ReplayServer(retry_after="0") as srv:
        fake_api(srv, faults={"sub-01:anat:sub-01_T1w.nii": ["truncate", "500"]})
        summary = crawl("openneuro", tmp_path, base_url=srv.url(), query="ds000001",
                        options={"include": "sub-*/*.nii,sub-*/*.nii.gz", "exclude": "sub-02/*"})
    assert summary["status"] == {"ok": 2}
    store = RawStore(tmp_path, "openneuro")
    items = store.latest()
    t1 = items["ds000001:1.0.0:sub-01/anat/sub-01_T1w.nii"]
    assert store.resolve(t1).read_bytes() == FILES["sub-01:anat:sub-01_T1w.nii"]
    assert "Balloon Analog" in t1.text and "MagneticFieldStrength=3" in t1.text and "sex F" in t1.text
    assert t1.license == "CC0" and t1.license_url.startswith("https://creativecommons.org/publicdomain/zero")
    assert t1.modality == "MR" and t1.patient_id == "ds000001:sub-01" and t1.meta["tag"] == "1.0.0"
    bold = items["ds000001:1.0.0:sub-01/func/sub-01_task-balloonanalogrisktask_run-01_bold.nii.gz"]
    assert "RepetitionTime=2.0" in bold.text  # inherited top-level sidecar
    import nibabel

    assert nibabel.load(store.resolve(bold)).shape[:3] == nibabel.load(Path(data_path, "example4d.nii.gz")).shape[:3]
    assert json.loads((store.root / "source.json").read_text()) == {"dataset": "ds000001", "tag": "1.0.0"}


def test_wrong_annex_checksum_is_recorded(tmp_path):
    with ReplayServer(retry_after="0") as srv:
        fake_api(srv)
        srv.add("/crn/datasets/ds000001/snapshots/1.0.0/files/sub-02:anat:sub-02_T1w.nii",
                FILES["sub-02:anat:sub-02_T1w.nii"], always="corrupt")
        summary = crawl("openneuro", tmp_path, base_url=srv.url(), query="ds000001", options={"include": "sub-02/*"})
    assert summary["status"] == {"error": 1}
    item = next(iter(RawStore(tmp_path, "openneuro").latest().values()))
    assert "sha256 mismatch" in item.error and item.file is None


def test_resume_refuses_a_different_revision(tmp_path):
    with ReplayServer() as srv:
        fake_api(srv)
        crawl("openneuro", tmp_path, base_url=srv.url(), query="ds000001", limit=1)
    with pytest.raises(UsageError, match="snapshot 1.0.0, not 2.0.0"):
        crawl("openneuro", tmp_path, query="ds000001:2.0.0")
    with ReplayServer() as srv:
        fake_api(srv, tag="1.1.0")
        with pytest.raises(StageError, match="force=true"):
            crawl("openneuro", tmp_path, base_url=srv.url(), query="ds000001")

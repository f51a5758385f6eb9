"""Label Studio round trip against a real Label Studio 1.23 server started once per test session."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from manifests.io import read_manifest
from manifests.labels import NIH15
from medharvest.cli import main
from tests.curation.labelstudio_server import (
    make_manifest,
    start_session_server,
    stop_session_server,
)

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:label_studio_sdk")]

ANN2 = "second.annotator@medharvest.local"


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory):
    server = start_session_server(tmp_path_factory)
    yield server
    rc = stop_session_server()
    assert rc == 0, f"annotate serve did not stop cleanly on Ctrl-C (exit {rc})"


@pytest.fixture(scope="session")
def ls_client(ls_server):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=ls_server.url, api_key=ls_server.token)


def _creds(server) -> list[str]:
    return ["--url", server.url, "--token", server.token]


def _tasks(client, project_id: int) -> list:
    return list(client.tasks.list(project=project_id, fields="all", page_size=100))


def _project(client, title: str):
    return next(p for p in client.projects.list(page_size=100) if p.title == title)


def _second_user(client) -> int:
    for u in client.users.list():
        if u.email == ANN2:
            return u.id
    return client.users.create(email=ANN2, username=ANN2, first_name="Second").id


def _rect(name: str, label: str, x: float, y: float, w: float, h: float) -> dict:
    return {"from_name": name, "to_name": "image", "type": "rectanglelabels", "original_width": 96,
            "original_height": 80, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


def _choices(name: str, *values: str) -> dict:
    return {"from_name": name, "to_name": "image", "type": "choices", "value": {"choices": list(values)}}


@pytest.fixture(scope="module")
def pushed(ls_server, ls_client, tmp_path_factory):
    """A 6-record manifest pushed to project 'roundtrip', then annotated by two annotators."""
    folder = tmp_path_factory.mktemp("rt") / "ds"
    manifest = make_manifest(folder)
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert main(["annotate", "push", str(manifest), "--project", "roundtrip", "-q", *_creds(ls_server)]) == 0
    project = _project(ls_client, "roundtrip")
    tasks = {t.data["key"]: t for t in _tasks(ls_client, project.id)}
    second = _second_user(ls_client)
    created = []  # (task key, annotation id)
    k0, k1, k2 = "lstest:00000", "lstest:00001", "lstest:00002"
    # annotator 1 (the admin, through the token): Mass + a lesion box + a note
    a = ls_client.annotations.create(id=tasks[k0].id, lead_time=4.5, result=[
        _choices("findings", "Mass"), _rect("lesions", "Mass", 25.0, 50.0, 10.0, 20.0),
        {"from_name": "note", "to_name": "image", "type": "textarea", "value": {"text": ["edge of film"]}}])
    created.append((k0, a.id))
    # annotator 2 disagrees on task 0: Nodule, and marks Mass uncertain
    a = ls_client.annotations.create(id=tasks[k0].id, completed_by=second, result=[
        _choices("findings", "Nodule"), _choices("uncertain", "Mass")])
    created.append((k0, a.id))
    # both agree on task 1 (No Finding); annotator 2 also draws a burned-in identifier box
    a = ls_client.annotations.create(id=tasks[k1].id, result=[_choices("findings", "No Finding")])
    created.append((k1, a.id))
    a = ls_client.annotations.create(id=tasks[k1].id, completed_by=second, result=[
        _choices("findings", "No Finding"), _rect("phi", "PHI", 0.0, 87.5, 50.0, 10.0)])
    created.append((k1, a.id))
    # annotator 2 skips task 2 (a cancelled annotation is still an annotation: kept in meta)
    a = ls_client.annotations.create(id=tasks[k2].id, completed_by=second, was_cancelled=True, result=[])
    created.append((k2, a.id))
    return {"manifest": manifest, "digest": digest, "project": project, "tasks": tasks, "annotations": created,
            "folder": folder}


def test_push_creates_tasks_with_images_and_predictions(pushed, ls_client, ls_server):
    tasks = pushed["tasks"]
    assert len(tasks) == 6
    t0 = tasks["lstest:00000"]
    assert t0.data["image"].startswith("/data/local-files/?d=")
    preds = {p.model_version: p.result for p in t0.predictions}
    assert set(preds) == {"dataset@test-1"}
    choices = [r for r in preds["dataset@test-1"] if r["type"] == "choices"]
    assert choices[0]["value"]["choices"] == ["Mass"]
    box = next(r for r in preds["dataset@test-1"] if r["type"] == "rectanglelabels")
    # record box x=32,y=20,w=16,h=20 px on a 96x80 image -> percent
    assert box["value"]["x"] == pytest.approx(100 * 32 / 96)
    assert box["value"]["height"] == pytest.approx(25.0)
    t1 = tasks["lstest:00001"]
    assert {p.model_version for p in t1.predictions} == {"dataset@test-1", "ner@test-1"}
    unc = next(p for p in t1.predictions if p.model_version == "ner@test-1").result
    assert unc[0]["from_name"] == "uncertain" and unc[0]["value"]["choices"] == ["Pneumonia"]
    t2 = tasks["lstest:00002"]
    assert "phi_scan@test-1" in {p.model_version for p in t2.predictions}
    # the server really serves the image bytes behind the task URL
    import urllib.request

    req = urllib.request.Request(ls_server.url + t0.data["image"], headers={"Authorization": f"Token {ls_server.token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
    assert body == (pushed["folder"] / t0.data["image_path"]).read_bytes()


def test_repush_creates_no_duplicates_and_adds_only_new(pushed, ls_client, ls_server, tmp_path, capsys):
    argv = ["annotate", "push", str(pushed["manifest"]), "--project", "roundtrip", "-q",
            "--url", ls_server.url, "--token", ls_server.token]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["imported"] == 0 and out["already_in_project"] == 6
    assert len(_tasks(ls_client, pushed["project"].id)) == 6
    # a bigger manifest with the same first 6 keys: only the 7th is imported
    bigger = make_manifest(tmp_path / "bigger", n=7)
    assert main(["annotate", "push", str(bigger), "--project", "roundtrip-grow", "-q",
                 "--url", ls_server.url, "--token", ls_server.token, "--limit", "4"]) == 0
    assert main(["annotate", "push", str(bigger), "--project", "roundtrip-grow", "-q",
                 "--url", ls_server.url, "--token", ls_server.token]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["imported"] == 3 and out["already_in_project"] == 4
    keys = [t.data["key"] for t in _tasks(ls_client, _project(ls_client, "roundtrip-grow").id)]
    assert len(keys) == len(set(keys)) == 7


def test_pull_merges_every_annotation(pushed, ls_server, tmp_path):
    out = tmp_path / "pulled" / "manifest.parquet"
    assert main(["annotate", "pull", "--project", "roundtrip", "--out", str(out), "-q",
                 "--url", ls_server.url, "--token", ls_server.token]) == 0
    # the base manifest is untouched
    assert hashlib.sha256(pushed["manifest"].read_bytes()).hexdigest() == pushed["digest"]
    rows = {r["key"]: r for r in read_manifest(out).to_pylist()}
    assert len(rows) == 6
    # every annotation of every task is in the record's meta
    for key, ann_id in pushed["annotations"]:
        meta = json.loads(rows[key]["meta"])
        assert meta["origin"] == "test"  # base meta kept
        ids = [a["id"] for a in meta["labelstudio"]["roundtrip"]["annotations"]]
        assert ann_id in ids, (key, ann_id, ids)
    r0 = rows["lstest:00000"]
    human = [x for x in r0["labels"] if x["label_source"] == "human"]
    by = {(x["annotator"], x["finding"]): x["state"] for x in human}
    admin = ls_server.credentials.username
    assert by[(admin, "Mass")] == "positive" and by[(admin, "Nodule")] == "negative"
    assert by[(ANN2, "Nodule")] == "positive" and by[(ANN2, "Mass")] == "uncertain"
    assert {x["annotator"] for x in human} == {admin, ANN2}
    # dataset labels are kept beside the human ones, not overwritten
    assert {"finding": "Mass", "state": "positive", "label_source": "dataset", "annotator": None} in r0["labels"]
    hbox = [b for b in r0["boxes"] if b["label_source"] == "human"]
    assert len(hbox) == 1 and hbox[0]["annotator"] == admin
    # 25%,50%,10%,20% of 96x80 px
    assert (hbox[0]["x"], hbox[0]["y"], hbox[0]["w"], hbox[0]["h"]) == pytest.approx((24.0, 40.0, 9.6, 16.0))
    meta0 = json.loads(r0["meta"])["labelstudio"]["roundtrip"]
    assert meta0["agreement"]["annotators"] == 2
    assert set(meta0["agreement"]["disagreements"]) == {"Mass", "Nodule"}
    assert any(a["note"] == "edge of film" and a["lead_time"] == 4.5 and a["created_at"] for a in meta0["annotations"])
    r1 = rows["lstest:00001"]
    assert json.loads(r1["meta"])["labelstudio"]["roundtrip"]["agreement"]["pairwise"] == 1.0
    human_phi = [p for p in r1["phi_flags"] if p["confidence"] == 1.0]
    assert human_phi == [{"where": "image", "kind": "other", "left": 0, "top": 70, "width": 48, "height": 8,
                          "confidence": 1.0, "redacted": False}]
    r2 = rows["lstest:00002"]
    anns2 = json.loads(r2["meta"])["labelstudio"]["roundtrip"]["annotations"]
    assert anns2[0]["was_cancelled"] is True
    assert not [x for x in r2["labels"] if x["label_source"] == "human"]
    # conflicts are reported, stats written
    conflicts = [json.loads(line) for line in out.with_suffix(".annotate-conflicts.jsonl").read_text().splitlines()]
    kinds = {(c["key"], c["kind"], c["finding"]) for c in conflicts}
    assert ("lstest:00000", "annotators", "Mass") in kinds
    assert ("lstest:00000", "human_vs_dataset", "Mass") in kinds  # ANN2 said uncertain, dataset positive
    assert not [c for c in conflicts if c["key"] == "lstest:00001" and c["kind"] == "annotators"]
    stats = json.loads(out.with_suffix(".annotate-stats.json").read_text())
    assert stats["annotations"] == 5 and stats["cancelled_annotations"] == 1
    assert stats["tasks_with_2plus_annotators"] == 2
    assert 0 < stats["mean_pairwise_agreement"] < 1
    assert ls_server.token not in (out.parent / "run.json").read_text()


def test_pull_twice_into_pulled_manifest_does_not_double(pushed, ls_server, tmp_path):
    first = tmp_path / "a.parquet"
    second = tmp_path / "b.parquet"
    common = ["--project", "roundtrip", "-q", "--url", ls_server.url, "--token", ls_server.token]
    assert main(["annotate", "pull", "--out", str(first), *common]) == 0
    assert main(["annotate", "pull", "--out", str(second), "--base", str(first), *common]) == 0
    a = {r["key"]: r for r in read_manifest(first).to_pylist()}
    b = {r["key"]: r for r in read_manifest(second).to_pylist()}
    for key in a:
        assert sorted(map(str, a[key]["labels"])) == sorted(map(str, b[key]["labels"]))
        assert len(a[key]["boxes"]) == len(b[key]["boxes"])


def test_wrong_token_unreachable_and_config_mismatch_exit_1(pushed, ls_server, ls_client, tmp_path, capsys):
    manifest = str(pushed["manifest"])
    rc = main(["annotate", "push", manifest, "--project", "roundtrip", "--url", ls_server.url, "--token", "not-the-token"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "rejected the API token (401" in err and "not-the-token" not in err
    assert len(err.strip().splitlines()) == 1

    from curation.labelstudio.server import free_port

    rc = main(["annotate", "pull", "--project", "roundtrip", "--out", str(tmp_path / "x.parquet"),
               "--url", f"http://127.0.0.1:{free_port()}", "--token", ls_server.token])
    err = capsys.readouterr().err
    assert rc == 1 and "connection refused" in err and ls_server.token not in err
    assert len(err.strip().splitlines()) == 1

    ls_client.projects.create(title="other-config", label_config=(
        '<View><Image name="image" value="$image"/><Choices name="c" toName="image">'
        '<Choice value="A"/></Choices></View>'))
    argv = ["annotate", "push", manifest, "--project", "other-config", "--url", ls_server.url, "--token", ls_server.token]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1 and "different labeling config" in err
    assert main([*argv, "--update-config", "-q"]) == 0
    assert len(_tasks(ls_client, _project(ls_client, "other-config").id)) == 6

    rc = main(["annotate", "pull", "--project", "no-such-project", "--out", str(tmp_path / "y.parquet"),
               "--url", ls_server.url, "--token", ls_server.token])
    assert rc == 1 and "no project named 'no-such-project'" in capsys.readouterr().err


def test_token_from_environment(pushed, ls_server, monkeypatch, capsys):
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.token)
    assert main(["annotate", "push", str(pushed["manifest"]), "--project", "roundtrip", "-q"]) == 0
    captured = capsys.readouterr()
    assert ls_server.token not in captured.out + captured.err
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    assert main(["annotate", "push", str(pushed["manifest"]), "--project", "roundtrip"]) == 2
    assert "LABEL_STUDIO_API_KEY" in capsys.readouterr().err


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.mark.chromium
def test_task_page_renders_its_image_in_headless_chromium(pushed, ls_server, tmp_path, monkeypatch):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)")
    import io
    import time

    import numpy as np
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("SE_OFFLINE", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chrome'}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        driver.set_page_load_timeout(60)
        driver.get(ls_server.url + "/user/login/")
        driver.find_element(By.NAME, "email").send_keys(ls_server.credentials.username)
        driver.find_element(By.NAME, "password").send_keys(ls_server.credentials.password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        deadline = time.monotonic() + 30
        while "/user/login" in driver.current_url and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "/user/login" not in driver.current_url, "login through the form failed"
        task = pushed["tasks"]["lstest:00000"]
        driver.get(f"{ls_server.url}/projects/{pushed['project'].id}/data?task={task.id}")
        # the labeling area shows the image as an <img> (LS fetches /data/local-files/... into a blob: URL)
        js = """return Array.from(document.images).filter(i => !i.className.includes('avatar')).map(i => {
                  const r = i.getBoundingClientRect();
                  return {src: i.src, ok: i.complete, nw: i.naturalWidth, nh: i.naturalHeight,
                          x: r.left, y: r.top, w: r.width, h: r.height}; })"""
        main_img = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            imgs = [i for i in driver.execute_script(js) if i["ok"] and i["nw"] > 0 and i["w"] > 0]
            if imgs:
                main_img = max(imgs, key=lambda i: i["w"] * i["h"])
                if main_img["w"] > 200:  # the labeling area's image, not a data-manager thumbnail
                    break
            time.sleep(0.5)
        assert main_img is not None, "no image loaded on the task page"
        assert (main_img["nw"], main_img["nh"]) == (96, 80)
        assert main_img["w"] > 200
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("L")
        scale = shot.width / driver.execute_script("return window.innerWidth")
        box = tuple(int(round(v * scale)) for v in (main_img["x"], main_img["y"], main_img["x"] + main_img["w"],
                                                     main_img["y"] + main_img["h"]))
        region = np.asarray(shot.crop(box), dtype=np.float32)
        assert region.size > 0 and region.std() > 20, f"image region looks blank (std {region.std():.1f})"
        assert region.max() > 200  # the bright square of the test image is on screen
    finally:
        driver.quit()


def test_push_with_image_url_base_and_filter(pushed, ls_server, ls_client):
    argv = ["annotate", "push", str(pushed["manifest"]), "--project", "by-url", "-q", *_creds(ls_server),
            "--image-url-base", "http://127.0.0.1:9/store/", "--filter", "label:Mass=positive"]
    assert main(argv) == 0
    tasks = _tasks(ls_client, _project(ls_client, "by-url").id)
    assert [t.data["key"] for t in tasks] == ["lstest:00000"]
    assert tasks[0].data["image"] == "http://127.0.0.1:9/store/" + tasks[0].data["image_path"]


def test_sample_dataset_curated_manifest_round_trip(ls_server, ls_client, tmp_path):
    """The toolkit's own path: ``sample`` -> ``curate run`` -> ``annotate push`` -> ``annotate pull``."""
    import subprocess
    import sys

    def run(*args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "medharvest", *args], capture_output=True, text=True, timeout=300)
        if proc.returncode == 2 and "unknown choice" in proc.stderr:
            pytest.skip(f"'medharvest {args[0]}' is not available: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr

    run("sample", "--out", str(tmp_path / "data"), "--n", "20", "--size", "64", "-q")
    run("curate", "run", str(tmp_path / "data"), "--out", str(tmp_path / "cur"), "--no-ocr", "--workers", "1", "-q")
    manifest = tmp_path / "cur" / "manifest.parquet"
    assert main(["annotate", "push", str(manifest), "--project", "sample", "--limit", "8", "-q", *_creds(ls_server)]) == 0
    tasks = _tasks(ls_client, _project(ls_client, "sample").id)
    assert len(tasks) == 8
    records = {r["key"]: r for r in read_manifest(manifest).to_pylist()}
    for t in tasks:
        rec = records[t.data["key"]]
        assert t.data["image_path"] == rec["image_path"] and t.data["text"] == (rec["text"] or "")
        nih = [x for x in rec["labels"] if x["state"] in ("positive", "uncertain") and x["finding"] in NIH15]
        if nih:  # predictions carry the label source and the stage version
            assert {p.model_version for p in t.predictions} >= {f"{nih[0]['label_source']}@{rec['stage_version']}"}
    ls_client.annotations.create(id=tasks[0].id, result=[_choices("findings", "Hernia")])
    out = tmp_path / "pulled.parquet"
    assert main(["annotate", "pull", "--project", "sample", "--out", str(out), "-q", *_creds(ls_server)]) == 0
    pulled = {r["key"]: r for r in read_manifest(out).to_pylist()}
    assert set(pulled) == set(records)  # base order and rows kept, nothing dropped
    hernia = [x for x in pulled[tasks[0].data["key"]]["labels"] if x["label_source"] == "human" and x["state"] == "positive"]
    assert [x["finding"] for x in hernia] == ["Hernia"]
    untouched = [k for k in records if k != tasks[0].data["key"]]
    assert all(pulled[k]["labels"] == records[k]["labels"] for k in untouched)


def test_push_refuses_images_outside_the_manifest_and_never_registers_root(ls_server, ls_client, tmp_path):
    from curation.labelstudio.client import Connection
    from curation.labelstudio.push import PushConfig, push
    from manifests.io import write_manifest
    from manifests.schema import from_records

    folder = tmp_path / "ds"      # under the server's document root (the session's base temp folder)
    manifest = make_manifest(folder, 3, source="outside", seed0=40)
    rows = read_manifest(manifest).to_pylist()
    elsewhere = folder.parent / "elsewhere.png"
    elsewhere.write_bytes((folder / rows[0]["image_path"]).read_bytes())
    rows[0]["image_path"] = str(elsewhere.resolve())            # absolute, outside the manifest's folder
    rows[1]["image_path"] = "../elsewhere.png"
    write_manifest(from_records(rows), manifest)
    summary = push(Connection(ls_server.url, ls_server.token), manifest, PushConfig(project="outside"))
    assert summary["imported"] == 1 and summary["refused_outside"] == 2
    project = _project(ls_client, "outside")
    storages = [Path(s.path) for s in ls_client.import_storage.local.list(project=project.id)]
    assert storages and all(p.resolve().is_relative_to(folder.resolve()) for p in storages), storages
    assert [t.data["key"] for t in _tasks(ls_client, project.id)] == ["outside:00002"]

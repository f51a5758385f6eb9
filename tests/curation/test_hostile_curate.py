"""``curate run`` against hostile raw stores and hosts: paths out of the store, two runs on one
``--out``, a full disk."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from curation.pipeline import JOURNAL, CurateConfig, curate_run
from manifests.errors import StageError
from manifests.io import read_manifest
from manifests.raw import RawItem, RawStore
from tests.conftest import REPO
from tests.curation.rawstores import cxr_like, write_png
from tests.smalldisk import grow, small_disk

CFG = CurateConfig(ocr=False, labels=False, workers=1, chunk=4)


def _rows(out: Path) -> dict[str, dict]:
    return {r["source_id"]: r for r in read_manifest(out).to_pylist()}


def test_items_pointing_outside_the_store_are_refused_never_read(tmp_path):
    data = tmp_path / "data"
    store = RawStore(data, "src")
    secret = tmp_path / "etc" / "passwd"                     # what ../../../etc/passwd reaches from the store
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:SECRET-LINE:/root:/bin/bash\n")
    outside_png = write_png(tmp_path / "elsewhere" / "x.png", cxr_like(seed=2))
    with store:
        write_png(store.files_dir / "ok.png", cxr_like(seed=1))
        (store.files_dir / "link.png").symlink_to(outside_png)
        for it in (RawItem("src", "ok", file="files/ok.png", text="Clear lungs.", text_kind="report"),
                   RawItem("src", "passwd", file="../../../etc/passwd"),
                   RawItem("src", "abs", file=str(outside_png)),
                   RawItem("src", "symlink", file="files/link.png"),
                   RawItem("src", "text_out", file="files/ok.png", meta={"text_file": "../../../etc/passwd"}, text_kind="report")):
            store.append(it)
    store.close()
    out = tmp_path / "out"
    summary = curate_run(CFG, [data], out)
    rows = _rows(out)
    assert rows["ok"]["status"] == "ok"
    for sid in ("passwd", "abs", "symlink", "text_out"):
        assert rows[sid]["status"] == "error" and "outside" in rows[sid]["error"], (sid, rows[sid]["error"])
    assert summary["status"] == {"ok": 1, "error": 4}
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"SECRET-LINE" not in everything
    assert summary["images_stored"] == 1


def test_labelstudio_storage_root_never_leaves_the_manifest(tmp_path):
    from curation.labelstudio.push import storage_root

    root = (tmp_path / "m").resolve()
    (root / "images" / "a").mkdir(parents=True)
    recs = [{"key": "s:1", "image_path": "images/a/1.png"}, {"key": "s:2", "image_path": "images/2.png"},
            {"key": "s:3", "image_path": "/etc/hostname"}, {"key": "s:4", "image_path": "../../x.png"}]
    store, kept, refused = storage_root([root], recs)
    assert store == root / "images"
    assert [r["key"] for r, _ in kept] == ["s:1", "s:2"]
    assert len(refused) == 2 and all("outside" in m for m in refused) and "s:3" in refused[0]
    store, kept, refused = storage_root([root], recs[2:])
    assert store is None and not kept and len(refused) == 2


# -- one --out, two runs --------------------------------------------------------------------------
def _hold_lock(out: str, ready, release) -> None:
    from curation.pipeline import LOCK_NAME
    from manifests.guards import run_lock

    with run_lock(Path(out), name=LOCK_NAME, what="curate run"):
        ready.set()
        release.wait(30)


def _store_with(data: Path, n: int) -> None:
    store = RawStore(data, "src")
    with store:
        for i in range(n):
            write_png(store.files_dir / f"{i}.png", cxr_like(size=96, seed=i))
            store.append(RawItem("src", str(i), file=f"files/{i}.png", text=f"Report {i}.", text_kind="report"))
    store.close()


def test_second_run_on_one_out_is_refused_naming_the_holder(tmp_path):
    _store_with(tmp_path / "data", 2)
    out = tmp_path / "out"
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(out), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StageError) as info:
            curate_run(CFG, [tmp_path / "data"], out)
        msg = str(info.value)
        assert f"pid {holder.pid}" in msg and os.uname().nodename in msg and "started" in msg
        assert not (out / "manifest.parquet").exists()
    finally:
        release.set()
        holder.join(30)
    assert curate_run(CFG, [tmp_path / "data"], out)["records"] == 2     # released: the next run works


def test_stale_lock_of_a_killed_run_is_taken_over(tmp_path):
    _store_with(tmp_path / "data", 2)
    out = tmp_path / "out"
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(out), ready, release))
    holder.start()
    assert ready.wait(30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(30)
    assert (out / ".curate.lock").exists()                       # left behind by the dead run
    assert curate_run(CFG, [tmp_path / "data"], out)["records"] == 2


# -- a full disk ----------------------------------------------------------------------------------
def test_full_disk_says_so_keeps_what_is_done_and_resumes(tmp_path):
    _store_with(tmp_path / "data", 24)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    (tmp_path / "c.toml").write_text("[curate]\nchunk = 4\n")
    cmd = [sys.executable, "-m", "medharvest", "curate", "run", str(tmp_path / "data"), "--out", str(tmp_path / "small" / "out"),
           "--no-ocr", "--no-labels", "--workers", "1", "--config", str(tmp_path / "c.toml")]
    with small_disk(tmp_path / "small", "160k") as disk:
        full = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert full.returncode == 1, full.stderr[-2000:]
        assert "disk full" in full.stderr and "Traceback" not in full.stderr, full.stderr[-2000:]
        journal = disk / "out" / JOURNAL
        done_before = sum(1 for line in journal.read_bytes().splitlines(keepends=True) if line.endswith(b"\n"))
        assert 0 < done_before < 24
        grow(disk, "20m")
        ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert ok.returncode == 0, ok.stderr[-2000:]
        summary = json.loads((disk / "out" / "stats.json").read_text())
        assert summary["records"] == 24 and summary["reused"] >= done_before - 4
        assert summary["status"] == {"ok": 24}

"""End to end on a real two-node Ray cluster on this machine (``ray start --head`` + a second
``ray start --address``), driven through the CLI as a user would: crawl the loopback Open-i
replay with ``--executor ray --ray-address ADDR`` (the driver killed once mid-crawl, then re-run),
then curate the crawl plus the embedded sample on the cluster. The raw store and the manifest
equal the local executor's: same keys, image sha256s, labels, duplicate groups, split."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manifests.io import read_manifest
from manifests.raw import RawStore
from tests.crawlers.openi_replay import openi_site
from tests.ray_helpers import TwoNodeCluster

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs ray (uv sync)")
    c = TwoNodeCluster(REPO)
    try:
        yield c.start()
    finally:
        c.stop()
    assert not c.pids(), "processes of the test cluster survived its teardown"


def cli(*args: str, env: dict, wait: bool = True):
    cmd = [sys.executable, "-m", "medharvest", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stdout[-2000:]} {proc.stderr[-3000:]}"
    return proc


def _items(out: Path) -> dict[str, dict]:
    return {sid: {k: v for k, v in vars(it).items() if k != "retrieved_at"} for sid, it in RawStore(out, "openi").latest().items()}


def test_crawl_and_curate_on_two_nodes_equal_local(cluster, tmp_path):
    from crawlers.sample.generator import SampleConfig, generate
    from manifests.ops.split import SplitConfig, split_file

    env = cluster.env
    ray_flags = ["--executor", "ray", "--ray-address", cluster.address]
    shards = ["--shard-size", "5"]
    n = 30
    with openi_site(n, delay=0.05) as (srv, site):
        crawl = ["crawl", "openi", "--base-url", srv.url(), "--option", "page_size=20", "--workers", "2", "-q"]
        cli(*crawl, "--out", str(tmp_path / "local"), env=env)
        # the driver, killed once at least one shard is done and before all are
        shard_dir = tmp_path / "ray" / "raw" / "openi" / "shards"
        proc = cli(*crawl, "--out", str(tmp_path / "ray"), *ray_flags, *shards, env=env, wait=False)
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None and len(list(shard_dir.glob("*/stats.json"))) < 1:
            time.sleep(0.05)
        assert proc.poll() is None, f"the crawl ended before it could be killed: {proc.communicate()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = len(list(shard_dir.glob("*/stats.json")))
        assert 1 <= done_before < n // 5
        searches = srv.hits["/api/search"]
        cli(*crawl, "--out", str(tmp_path / "ray"), *ray_flags, *shards, env=env)  # resumes
        assert srv.hits["/api/search"] == searches  # the finished plan was reused: no second discovery
    stats = json.loads((tmp_path / "ray" / "raw" / "openi" / "stats.json").read_text())
    assert stats["status"] == {"ok": n} and stats["run"]["shards"] == n // 5
    assert stats["run"]["nodes"] == 2  # shards ran on both nodes
    lines = [json.loads(ln)["source_id"] for ln in (tmp_path / "ray" / "raw" / "openi" / "items.jsonl").read_text().splitlines()]
    assert len(lines) == len(set(lines)) == n
    assert _items(tmp_path / "ray") == _items(tmp_path / "local")
    run_json = json.loads((tmp_path / "ray" / "raw" / "openi" / "run.json").read_text())
    assert "ray" in json.dumps(run_json)

    generate(SampleConfig(n=20, seed=2, size=96), tmp_path / "sample")
    for name, extra in (("local", []), ("ray", ray_flags)):
        cli("curate", "run", str(tmp_path / name), str(tmp_path / "sample"), "--out", str(tmp_path / f"cur_{name}"),
            "--no-ocr", *extra, *(["--part-rows", "25"] if name == "ray" else []), "-q", env=env)
    cols = ["key", "image_sha256", "labels", "dup_group", "status", "phi_flags", "quality_flags"]
    a, b = read_manifest(tmp_path / "cur_local", cols), read_manifest(tmp_path / "cur_ray", cols)
    assert (tmp_path / "cur_ray" / "manifest.parquet").is_dir()
    assert a.num_rows == n + 20 and a.to_pylist() == b.to_pylist()
    assert any(r["dup_group"] for r in b.to_pylist())
    sa, _ = split_file(tmp_path / "cur_local", tmp_path / "split_a", SplitConfig(seed=11))
    sb, _ = split_file(tmp_path / "cur_ray", tmp_path / "split_b", SplitConfig(seed=11))
    assert read_manifest(sa, ["key", "split"]).to_pylist() == read_manifest(sb, ["key", "split"]).to_pylist()
    assert json.loads((tmp_path / "cur_ray" / "stats.json").read_text())["executor"] == "ray"

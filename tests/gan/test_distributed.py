"""Both trainers under torchrun with 2 CPU processes (gloo): the ranks end with identical weights.

The GAN runs one node with two processes (``--standalone --nproc_per_node 2``); the classifier runs
the multi-node launch line, two torchrun "nodes" of one process each meeting through c10d
rendezvous as on two machines, on a partitioned manifest (``manifest.parquet/part-*.parquet``)::

    torchrun --nnodes 2 --nproc_per_node 1 --rdzv_backend c10d --rdzv_endpoint HOST:PORT --rdzv_id JOB ...
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_torchrun(kind: str, manifest: Path, out: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    worker = [str(REPO / "tests" / "gan" / "ddp_worker.py"), kind, str(manifest), str(out)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *worker]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((out.parent / f"{kind}_rank{r}.json").read_text()) for r in (0, 1)]


def run_two_nodes(kind: str, manifest: Path, out: Path) -> list[dict]:
    """The multi-node launch line, both "nodes" on this machine (c10d rendezvous on a free port)."""
    from tests.ray_helpers import free_ports

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    port = free_ports(1)[0]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d",
           "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "medharvest-test",
           str(REPO / "tests" / "gan" / "ddp_worker.py"), kind, str(manifest), str(out)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]
    return [json.loads((out.parent / f"{kind}_rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gan", "classify"])
def test_two_ranks_agree(toy32, tmp_path, kind):
    if kind == "classify":
        from manifests.io import manifest_parts, read_manifest, write_manifest

        parts = write_manifest(read_manifest(toy32), tmp_path / "parts" / "manifest.parquet", images_from=toy32.parent,
                               part_rows=20)
        assert len(manifest_parts(parts)) == 4
        r0, r1 = run_two_nodes(kind, parts, tmp_path / kind / "run")
    else:
        r0, r1 = run_torchrun(kind, toy32, tmp_path / kind / "run")
    assert r0["world_size"] == r1["world_size"] == 2
    assert (r0["rank"], r1["rank"]) == (0, 1)
    assert r0["weights_sha256"] == r1["weights_sha256"]
    if kind == "gan":
        assert r0["steps"] == r1["steps"] > 0
        assert (tmp_path / kind / "run" / "checkpoint.pt").exists()
    else:
        assert (tmp_path / kind / "run" / "best.pt").exists()


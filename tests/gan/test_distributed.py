"""Both trainers under torchrun with 2 CPU processes (gloo): the ranks end with identical weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_torchrun(kind: str, manifest: Path, out: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "gan" / "ddp_worker.py"), kind, str(manifest), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((out.parent / f"{kind}_rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gan", "classify"])
def test_two_ranks_agree(toy32, tmp_path, kind):
    r0, r1 = run_torchrun(kind, toy32, tmp_path / kind / "run")
    assert r0["world_size"] == r1["world_size"] == 2
    assert (r0["rank"], r1["rank"]) == (0, 1)
    assert r0["weights_sha256"] == r1["weights_sha256"]
    if kind == "gan":
        assert r0["steps"] == r1["steps"] > 0
        assert (tmp_path / kind / "run" / "checkpoint.pt").exists()
    else:
        assert (tmp_path / kind / "run" / "best.pt").exists()

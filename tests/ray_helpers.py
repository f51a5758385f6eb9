"""Helpers for the Ray tests: find and kill the worker process running a given task or actor.

Ray titles a worker process ``ray::<task or actor class>`` while it runs one (``ray::IDLE``
otherwise), so a test can ``kill -9`` the worker that is doing a shard or an image, as a crashed
node would, and check that the run still finishes with nothing lost and nothing duplicated.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path


def ray_worker_pids(title: str) -> list[int]:
    """Pids whose process title starts with ``ray::<title>``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith(f"ray::{title}"):
            out.append(int(d.name))
    return out


class Killer(threading.Thread):
    """Once ``when()`` is true, ``kill -9`` one process titled ``ray::<title>`` (``killed``: its pid)."""

    def __init__(self, title: str, when: Callable[[], bool] = lambda: True, timeout: float = 120.0):
        super().__init__(daemon=True)
        self.title, self.when, self.timeout = title, when, timeout
        self.killed: int | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        end = time.monotonic() + self.timeout
        while not self.stop.is_set() and time.monotonic() < end:
            if self.when():
                pids = ray_worker_pids(self.title)
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    self.killed = pids[0]
                    return
            time.sleep(0.02)


def free_ports(n: int) -> list[int]:
    import socket

    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class TwoNodeCluster:
    """A real two-node Ray cluster on this machine: ``ray start --head`` plus a second
    ``ray start --address`` with its own CPU and a ``node2`` resource, in a private temp dir on
    distinct ports. :meth:`stop` kills exactly the processes whose command line names that temp
    dir (never ``ray stop``, which would stop every Ray on the machine)."""

    def __init__(self, repo: Path, *, cpus_per_node: int = 1):
        import tempfile

        self.temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths are limited
        self.repo = repo
        self.cpus = cpus_per_node
        import secrets

        # token authentication (Ray's default) with a token of this cluster's own, shared by its
        # nodes and drivers through the environment
        self.env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                    "PYTHONPATH": str(repo), "OMP_THREAD_LIMIT": "1"}
        self.address: str | None = None

    def _start(self, extra: list[str], ports: list[int]) -> None:
        import subprocess
        import sys

        nm, om, mx, ag, agg, rt = ports
        cmd = [str(Path(sys.executable).with_name("ray")), "start", "--temp-dir", str(self.temp), "--num-cpus", str(self.cpus),
               "--node-ip-address", "127.0.0.1", "--node-manager-port", str(nm), "--object-manager-port", str(om),
               "--metrics-export-port", str(mx), "--dashboard-agent-listen-port", str(ag),
               "--dashboard-agent-grpc-port", str(agg), "--runtime-env-agent-port", str(rt), "--disable-usage-stats", *extra]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")

    def start(self) -> "TwoNodeCluster":
        ports = free_ports(14)
        gcs, dash = ports[0], ports[1]
        self._start(["--head", "--port", str(gcs), "--include-dashboard", "false", "--dashboard-port", str(dash),
                     "--resources", '{"head": 1}'], ports[2:8])
        self.address = f"127.0.0.1:{gcs}"
        self._start(["--address", self.address, "--resources", '{"node2": 1}'], ports[8:14])
        return self

    def pids(self) -> list[int]:
        """This cluster's processes: their command line names its temp dir, or (agents that retitle
        themselves ``ray::DashboardAgent`` ..., overwriting their command line) one of their open
        files (logs, sockets) lies in it."""
        out = []
        needle = str(self.temp)
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == os.getpid():
                continue
            try:
                if needle.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
                    continue
                for fd in (d / "fd").iterdir():
                    try:
                        if os.readlink(fd).startswith(needle):
                            out.append(int(d.name))
                            break
                    except OSError:
                        continue
            except OSError:
                continue
        return out

    def stop(self) -> None:
        import shutil

        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        shutil.rmtree(self.temp, ignore_errors=True)

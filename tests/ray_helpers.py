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

"""Guards every stage that writes an output folder uses: one run per folder, and a full disk said plainly.

:func:`run_lock` takes ``<folder>/<name>`` with ``fcntl.flock`` (the kernel drops it when the
process dies, so a lock left by a killed run is taken over) and writes the holder into it (pid,
host, start time); a second run on the same folder stops at once with :class:`StageError` naming
the holder, instead of redoing everything with the last writer winning.

:func:`disk_full_is_stage_error` turns ``ENOSPC``/``EDQUOT`` anywhere in the block (a worker
process included) into a :class:`StageError` saying "disk full": what was done is kept (journals
and stores are append-only), and the same command resumes once there is space.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from manifests.errors import StageError

log = logging.getLogger(__name__)
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(folder: str | os.PathLike, *, name: str = ".lock", what: str = "run") -> Iterator[Path]:
    """Hold ``folder/name`` for the block; :class:`StageError` naming the holder if another process has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StageError(f"another {what} is using {folder}: {describe(read_holder(path))} holds {path}; "
                             f"wait for it to finish or choose another --out") from None
        old = read_holder(path)
        if old.get("pid") and old.get("host") == socket.gethostname() and not _alive(int(old["pid"])):
            log.warning("taking over the lock of a %s that is no longer running (%s)", what, describe(old))
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "what": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)   # the file stays (unlinking it would race a run opening it now)
    finally:
        os.close(fd)              # releases the flock


def read_holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    if not holder:
        return "a process (no details recorded yet)"
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_FULL


@contextmanager
def disk_full_is_stage_error(folder: str | os.PathLike, done: Callable[[], str] | None = None) -> Iterator[None]:
    """A full disk in the block -> :class:`StageError` ("disk full … run the same command again")."""
    try:
        yield
    except OSError as err:
        if not is_disk_full(err):
            raise
        kept = f"; {done()}" if done else ""
        raise StageError(f"disk full writing {folder} ({os.strerror(err.errno)}){kept}; what was done is kept: "
                         f"free space and run the same command again to resume") from None

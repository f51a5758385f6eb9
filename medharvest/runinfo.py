"""``run.json``: what ran, with which resolved config, version and git SHA, beside a run's output.

Secrets never get here: any key that looks like a credential is redacted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from manifests.io import write_json_atomic

_SECRET = re.compile(r"(pass(word)?|token|secret|api[_-]?key|credential|auth)", re.I)
REDACTED = "***"


def redact(obj: Any) -> Any:
    """Copy of ``obj`` with values under secret-looking keys replaced by ``***``."""
    if isinstance(obj, dict):
        return {k: (REDACTED if _SECRET.search(str(k)) and v not in (None, "") else redact(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    return obj


def redact_argv(argv: list[str]) -> list[str]:
    """argv with the values of secret-looking options (``--token X``, ``--password=X``) redacted."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
        elif arg.startswith("--") and _SECRET.search(arg.split("=", 1)[0]):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(arg)
                hide_next = True
        else:
            out.append(arg)
    return out


def git_sha() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    try:
        return _v("medharvest")
    except PackageNotFoundError:
        return "0+unknown"


def write_run_json(out_dir: str | Path, command: str, config: dict[str, Any], summary: dict[str, Any] | None = None) -> Path:
    path = Path(out_dir) / "run.json"
    write_json_atomic(path, redact({
        "command": command,
        "argv": redact_argv(sys.argv[1:]),
        "config": config,
        "summary": summary or {},
        "version": version(),
        "git_sha": git_sha(),
        "python": sys.version.split()[0],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }))
    return path

"""A local Label Studio server: installed in its own environment, bound to 127.0.0.1.

Label Studio is not a dependency of medharvest (its pins clash with ours): it runs as a ``uv tool``
(``uv tool install label-studio==1.23.2``). :class:`LabelStudioServer` starts it on a loopback port
with a generated API token, waits until it answers, and stops it on exit::

    with LabelStudioServer(data_dir, document_root=root) as server:
        server.url, server.token   # -> http://127.0.0.1:PORT, hex token

The admin user, password and token are created on the first start of a data directory and kept
in ``<data_dir>/medharvest-credentials.json`` (mode 0600) so a restart reuses them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from manifests.errors import StageError
from manifests.io import write_json_atomic

log = logging.getLogger(__name__)

LABEL_STUDIO_VERSION = "1.23.2"
CREDENTIALS_FILE = "medharvest-credentials.json"
DEFAULT_USERNAME = "admin@medharvest.local"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str


def find_label_studio(install: bool = True) -> str:
    """Path of the ``label-studio`` executable; installs it with ``uv tool install`` when missing."""
    found = _which_label_studio()
    if found:
        return found
    if not install:
        raise StageError("label-studio is not installed; run: uv tool install label-studio==" + LABEL_STUDIO_VERSION)
    uv = shutil.which("uv")
    if uv is None:
        raise StageError("label-studio is not installed and 'uv' is not on PATH to install it")
    log.warning("installing label-studio==%s with uv tool install", LABEL_STUDIO_VERSION)
    proc = subprocess.run([uv, "tool", "install", f"label-studio=={LABEL_STUDIO_VERSION}"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise StageError(f"uv tool install label-studio=={LABEL_STUDIO_VERSION} failed: {proc.stderr.strip()[-500:]}")
    found = _which_label_studio()
    if not found:
        raise StageError("label-studio was installed but its executable was not found (see 'uv tool dir --bin')")
    return found


def _which_label_studio() -> str | None:
    found = shutil.which("label-studio")
    if found:
        return found
    dirs = [Path.home() / ".local" / "bin"]
    uv = shutil.which("uv")
    if uv:
        try:
            out = subprocess.run([uv, "tool", "dir", "--bin"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0 and out.stdout.strip():
            dirs.insert(0, Path(out.stdout.strip()))
    for d in dirs:
        exe = d / "label-studio"
        if exe.is_file() and os.access(exe, os.X_OK):
            return str(exe)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_or_create_credentials(data_dir: Path) -> tuple[Credentials, bool]:
    """Credentials kept in the data dir; ``(creds, created)`` where created means first start."""
    path = data_dir / CREDENTIALS_FILE
    if path.is_file():
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(raw["username"], raw["password"], raw["token"]), False
    creds = Credentials(DEFAULT_USERNAME, secrets.token_urlsafe(16), secrets.token_hex(20))
    data_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"username": creds.username, "password": creds.password, "token": creds.token})
    os.chmod(path, 0o600)
    return creds, True


class LabelStudioServer:
    """Context manager running ``label-studio start`` on 127.0.0.1 (``port=0`` picks a free port).

    ``document_root`` is the folder below which Local Files storages may serve images.
    """

    def __init__(self, data_dir: str | os.PathLike, *, port: int = 0, document_root: str | os.PathLike | None = None,
                 install: bool = True, start_timeout: float = 180.0):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.document_root = Path(document_root or Path.cwd()).resolve()
        self.install = install
        self.start_timeout = start_timeout
        self.url = f"http://127.0.0.1:{self.port}"
        self.credentials: Credentials | None = None
        self._proc: subprocess.Popen | None = None
        self._log_fh = None

    @property
    def token(self) -> str:
        assert self.credentials is not None, "server not started"
        return self.credentials.token

    @property
    def log_path(self) -> Path:
        return self.data_dir / "label-studio.log"

    def start(self) -> LabelStudioServer:
        exe = find_label_studio(self.install)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        creds, _first = load_or_create_credentials(self.data_dir)
        self.credentials = creds
        env = dict(os.environ)
        env.update({
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_USERNAME": creds.username,
            "LABEL_STUDIO_PASSWORD": creds.password,
            "LABEL_STUDIO_USER_TOKEN": creds.token,
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.document_root),
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
            "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",  # no call to pypi.org at start (offline CI)
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
        })
        cmd = [exe, "start", "--internal-host", "127.0.0.1", "--port", str(self.port), "--no-browser",
               "--data-dir", str(self.data_dir), "--log-level", "WARNING"]
        self._log_fh = open(self.log_path, "ab")
        self._proc = subprocess.Popen(cmd, stdout=self._log_fh, stderr=subprocess.STDOUT, env=env,
                                      cwd=self.data_dir, start_new_session=True)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise StageError(f"label-studio exited with code {self._proc.returncode} while starting; "
                                 f"see {self.log_path}")
            if _healthy(self.url, self.token):
                return
            time.sleep(0.5)
        raise StageError(f"label-studio did not answer at {self.url} within {self.start_timeout:.0f} s; "
                         f"see {self.log_path}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def wait(self) -> int:
        """Block until the server process exits (``serve`` runs this until Ctrl-C)."""
        assert self._proc is not None
        return self._proc.wait()

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _healthy(url: str, token: str) -> bool:
    """True once the API accepts the token (migrations done, the admin user and its token exist)."""
    req = urllib.request.Request(url + "/api/projects/?page_size=1", headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False

"""Test helpers for the Label Studio round trip: a small manifest with real PNG images."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from manifests.io import write_manifest
from manifests.labels import NIH15
from manifests.schema import from_records, labels_list


def png_bytes(seed: int, width: int = 96, height: int = 80) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = (80 + 60 * np.sin(xx / (5 + seed)) + 40 * np.cos(yy / 7) + rng.normal(0, 10, (height, width)))
    img[height // 4: height // 2, width // 3: width // 2] = 250  # a bright "lesion"
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def nih_states(positive: list[str]) -> dict[str, str]:
    return {f: ("positive" if f in positive else "negative") for f in NIH15}


def make_manifest(folder: Path, n: int = 6, *, source: str = "lstest", width: int = 96, height: int = 80,
                  seed0: int = 0) -> Path:
    """``folder/manifest.parquet`` + content-addressed ``folder/images/<ab>/<sha>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    positives = [["Mass"], ["No Finding"], ["Effusion", "Atelectasis"], ["Nodule"], ["Cardiomegaly"], ["No Finding"]]
    records = []
    for i in range(n):
        data = png_bytes(seed0 + i, width, height)
        sha = hashlib.sha256(data).hexdigest()
        rel = Path("images") / sha[:2] / f"{sha}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        labels = labels_list(nih_states(positives[i % len(positives)]), "dataset")
        if i % 3 == 1:
            labels += labels_list({"Pneumonia": "uncertain"}, "ner")
        boxes = [{"label": "Mass", "x": 32.0, "y": 20.0, "w": 16.0, "h": 20.0, "label_source": "dataset",
                  "annotator": None}] if i % len(positives) == 0 else []
        phi = [{"where": "image", "kind": "name", "left": 2, "top": 70, "width": 30, "height": 8, "confidence": 0.9,
                "redacted": False}] if i % 4 == 2 else []
        records.append({
            "key": f"{source}:{i:05d}", "source": source, "source_id": f"{i:05d}", "image_path": rel.as_posix(),
            "image_sha256": sha, "width": width, "height": height, "text": f"Findings: case {i}. Impression: see labels.",
            "text_kind": "report", "labels": labels, "boxes": boxes, "phi_flags": phi, "split": "train",
            "stage_version": "test-1", "meta": json.dumps({"origin": "test"}), "license": "CC0-1.0",
        })
    return write_manifest(from_records(records), folder / "manifest.parquet")


# --- the one Label Studio server of the test session -------------------------------------------
#
# Started with the real command, ``medharvest annotate serve --port 0``, in a subprocess: its printed
# URL / user / password / token are what the tests use; SIGINT (Ctrl-C) stops it at the end.

import os  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 420  # first start migrates a fresh database: ~25 s idle, minutes on a loaded 2-core box
_SERVER: dict = {}


@dataclass
class ServedCredentials:
    username: str
    password: str


@dataclass
class ServedLabelStudio:
    url: str
    token: str
    credentials: ServedCredentials
    proc: subprocess.Popen
    output: list


def _read_until_ready(proc: subprocess.Popen, deadline: float) -> tuple[dict, list[str]]:
    """Read the serve command's stdout (in a thread: a buffered pipe and select() do not mix)."""
    lines_q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines_q.put(line)
        lines_q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    lines: list[str] = []
    found: dict = {}
    while time.monotonic() < deadline:
        try:
            line = lines_q.get(timeout=1.0)
        except queue.Empty:
            continue
        if line is None:
            break
        lines.append(line.rstrip())
        for name, pattern in (("url", r"running at (\S+)"), ("username", r"user:\s+(\S+)"),
                              ("password", r"password:\s+(\S+)"), ("token", r"API token:\s+(\S+)")):
            m = re.search(pattern, line)
            if m:
                found[name] = m.group(1)
        if "Ctrl-C" in line:
            break
    return found, lines


def start_session_server(tmp_path_factory) -> ServedLabelStudio:
    """Start (once per session) ``medharvest annotate serve`` on 127.0.0.1, or skip with the reason."""
    if "server" in _SERVER:
        return _SERVER["server"]
    if "skip" in _SERVER:
        pytest.skip(_SERVER["skip"])
    root = tmp_path_factory.getbasetemp()
    data = tmp_path_factory.mktemp("labelstudio-data")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "medharvest", "annotate", "serve", "--data-dir", str(data), "--port", "0",
         "--document-root", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env, start_new_session=True)
    try:
        found, lines = _read_until_ready(proc, time.monotonic() + START_TIMEOUT_S)
    except BaseException:  # e.g. pytest-timeout: never leave the server running
        _interrupt(proc)
        raise
    if not {"url", "token", "username", "password"} <= set(found):
        _interrupt(proc)
        tail = " | ".join(lines[-5:])
        _SERVER["skip"] = f"Label Studio could not be installed or started (medharvest annotate serve): {tail}"
        pytest.skip(_SERVER["skip"])
    server = ServedLabelStudio(found["url"], found["token"], ServedCredentials(found["username"], found["password"]),
                               proc, lines)
    _SERVER["server"] = server
    return server


def _interrupt(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def stop_session_server() -> int | None:
    """Ctrl-C the serve command; returns its exit code."""
    server = _SERVER.pop("server", None)
    if server is None:
        return None
    server.proc.send_signal(signal.SIGINT)
    try:
        # serve gives Label Studio 20 s for SIGTERM, then kills it; a loaded 2-core box needs slack
        return server.proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        raise

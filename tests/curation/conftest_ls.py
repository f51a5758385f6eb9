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

import pytest  # noqa: E402

_SERVER: dict = {}


def start_session_server(tmp_path_factory):
    """Start (once per session) a real Label Studio on 127.0.0.1, or skip with the reason."""
    if "server" in _SERVER:
        return _SERVER["server"]
    if "skip" in _SERVER:
        pytest.skip(_SERVER["skip"])
    from curation.labelstudio.server import LabelStudioServer, find_label_studio
    from manifests.errors import StageError

    try:
        find_label_studio(install=True)
    except StageError as err:
        _SERVER["skip"] = f"Label Studio is not available (uv tool install label-studio==1.23.2 failed): {err}"
        pytest.skip(_SERVER["skip"])
    root = tmp_path_factory.getbasetemp()
    server = LabelStudioServer(tmp_path_factory.mktemp("labelstudio-data"), document_root=root)
    try:
        server.start()
    except StageError as err:
        _SERVER["skip"] = f"Label Studio could not start: {err}"
        pytest.skip(_SERVER["skip"])
    _SERVER["server"] = server
    return server


def stop_session_server() -> None:
    server = _SERVER.pop("server", None)
    if server is not None:
        server.stop()

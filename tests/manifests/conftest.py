"""Small real manifests for the manifest-ops tests: PNG files on disk, sha256, labels, patients."""

from __future__ import annotations

import hashlib
import io
import random
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from manifests.io import write_manifest
from manifests.labels import NIH15
from manifests.schema import from_records, labels_list

FINDINGS = ("Effusion", "Cardiomegaly", "Nodule", "Hernia", "No Finding")


def png_bytes(seed: int, size: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_records(root: Path | None, n: int = 30, *, patients: int = 10, seed: int = 0, web: bool = False,
                 images: bool = True, rare: str | None = None, rare_rate: float = 0.0) -> list[dict]:
    """``n`` valid records over ``patients`` patients; images written under ``root/images`` when given."""
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        source = "openi" if web else "sample"
        rec = {
            "key": f"{source}:{i}", "source": source, "source_id": str(i),
            "patient_id": f"P{rng.randrange(patients)}", "study_id": f"S{i}",
            "license": "CC0", "modality": "DX", "view": rng.choice(["PA", "AP"]), "text": f"report {i}",
            "text_kind": "report", "stage_version": "test/1",
        }
        if web:
            rec.update(source_url=f"https://openi.example/{i}", retrieved_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                       license="CC BY 4.0", license_url="https://creativecommons.org/licenses/by/4.0/",
                       attribution="Open-i, NLM", provenance_required=True)
        if rare and rng.random() < rare_rate:
            states = {rare: "positive"}
        else:
            f = rng.choice(FINDINGS[:3] + ("No Finding",) * 3)
            states = {x: ("positive" if x == f else "negative") for x in NIH15 if x in FINDINGS}
        rec["labels"] = labels_list(states, "dataset")
        if root is not None and images:
            data = png_bytes(seed * 100_000 + i)
            rel = f"images/{i:04d}.png"
            (root / "images").mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
            rec.update(image_path=rel, image_sha256=hashlib.sha256(data).hexdigest(), width=16, height=16)
        recs.append(rec)
    return recs


def write(root: Path, records: list[dict], name: str = "manifest.parquet") -> Path:
    return write_manifest(from_records(records), root / name)


@pytest.fixture
def manifest(tmp_path) -> Path:
    """A valid 30-record manifest with images, in ``tmp_path/m``."""
    root = tmp_path / "m"
    root.mkdir()
    return write(root, make_records(root))

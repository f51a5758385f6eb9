"""Build small raw stores for curation tests: real images + the bad inputs the stage must survive."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from manifests.raw import RawItem, RawStore

REPORT = "FINDINGS: No pneumothorax. Small left pleural effusion.\nIMPRESSION: Cardiomegaly."


def cxr_like(size: int = 256, seed: int = 0) -> np.ndarray:
    """A grey radiograph-like image (smooth body + lungs + noise), deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    cx, cy, sx = rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.4)
    body = 120 * np.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / 0.45) ** 2))
    blobs = sum(rng.choice([-60, 60]) * np.exp(-(((x - bx) / 0.08) ** 2 + ((y - by) / 0.12) ** 2))
                for bx, by in rng.uniform(0.15, 0.85, (6, 2)))
    img = 60 + body + blobs + rng.normal(0, 4, (size, size)) + 30 * np.sin(rng.uniform(0, 6) + rng.uniform(4, 12) * x) * y
    return np.clip(img, 0, 255).astype(np.uint8)


def burn_text(img: np.ndarray, lines: list[str], size: int = 18) -> np.ndarray:
    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    font = ImageFont.load_default(size=size)
    for i, line in enumerate(lines):
        d.text((8, 6 + i * int(size * 1.4)), line, fill=255, font=font)
    return np.asarray(pil)


def write_png(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def build_store(data: Path, *, dicom: Path | None = None, bad: bool = True) -> RawStore:
    """A raw store 'testsrc' under ``data`` with good items and (``bad``) broken ones."""
    store = RawStore(data, "testsrc")
    files = store.files_dir
    with store:
        write_png(files / "a.png", cxr_like(seed=1))
        write_png(files / "a_copy.png", cxr_like(seed=1))          # exact duplicate of a
        near = cxr_like(seed=1).astype(np.int16) + 3               # near duplicate of a
        write_png(files / "a_near.png", np.clip(near, 0, 255).astype(np.uint8))
        write_png(files / "b.png", cxr_like(seed=7))
        write_png(files / "phi.png", burn_text(cxr_like(size=512, seed=3), ["SMITH, JOHN", "ID 4815162", "12/03/2019"], size=22))
        items = [
            RawItem("testsrc", "a", file="files/a.png", text=REPORT, text_kind="report", patient_id="p1",
                    labels={"Effusion": "positive", "Infiltrate": "negative"}, label_source="dataset",
                    boxes=[{"label": "Effusion", "x": 10, "y": 20, "w": 30, "h": 40}], license="CC0-1.0"),
            RawItem("testsrc", "a_copy", file="files/a_copy.png", text="No acute findings.", text_kind="report", patient_id="p1"),
            RawItem("testsrc", "a_near", file="files/a_near.png", patient_id="p2"),
            RawItem("testsrc", "b", file="files/b.png", text="Frontal chest radiograph.", text_kind="caption", patient_id="p3",
                    retrieved_at="2024-05-01T10:00:00+00:00"),
            RawItem("testsrc", "phi", file="files/phi.png", patient_id="p4"),
        ]
        if dicom is not None:
            shutil.copy(dicom, files / "scan.dcm")
            items.append(RawItem("testsrc", "dcm", file="files/scan.dcm"))
        if bad:
            (files / "corrupt.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 5)
            data_png = (files / "b.png").read_bytes()
            (files / "truncated.png").write_bytes(data_png[: len(data_png) // 2])
            (files / "latin1.txt").write_bytes("Befund: kleiner Erguss, Gr\xf6\xdfe 2 cm".encode("latin-1"))
            items += [
                RawItem("testsrc", "corrupt_dcm", file="files/corrupt.dcm", text="Chest.", text_kind="caption"),
                RawItem("testsrc", "truncated_png", file="files/truncated.png"),
                RawItem("testsrc", "latin1", file="files/b.png", meta={"text_file": "files/latin1.txt"}, text_kind="report"),
                RawItem("testsrc", "empty_report", file="files/b.png", text="   ", text_kind="report"),
                RawItem("testsrc", "missing_file", file="files/nope.png"),
                RawItem("testsrc", "failed_download", status="error", error="HTTP 404"),
            ]
        for it in items:
            store.append(it)
    store.close()
    return store

"""End to end through the CLI: sample -> curate (real Tesseract) -> split -> export, read back.

The identifier boxes the curation found and blacked out come out as COCO ``identifier/*`` boxes
that lie on black pixels of the exported image; the same curated manifest opens in ``datasets``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from medharvest.cli import main


@pytest.mark.slow
@pytest.mark.tesseract
def test_curated_sample_exports_open_in_their_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    data, cur, split = tmp_path / "data", tmp_path / "cur", tmp_path / "split"
    assert main(["sample", "--out", str(data), "--n", "24", "--size", "128", "-q"]) == 0
    assert main(["curate", "run", str(data), "--out", str(cur), "-q"]) == 0
    assert main(["manifest", "split", str(cur), "--out", str(split), "--seed", "0", "-q"]) == 0

    assert main(["manifest", "export", str(split), "--format", "coco", "--out", str(tmp_path / "c.json"), "-q"]) == 0
    from pycocotools.coco import COCO

    coco = COCO(str(tmp_path / "c.json"))
    ids = [a for a in coco.dataset["annotations"] if coco.cats[a["category_id"]]["supercategory"] == "identifier"]
    assert ids, "the sample plants burned-in identifiers; curation should have found some"
    for a in ids:
        img = coco.imgs[a["image_id"]]
        x, y, w, h = (int(round(v)) for v in a["bbox"])
        assert 0 <= x and 0 <= y and x + w <= img["width"] and y + h <= img["height"]
        if a["attributes"]["redacted"]:
            pixels = np.asarray(Image.open(tmp_path / img["file_name"]).convert("L"))[y:y + h, x:x + w]
            assert pixels.mean() < 5, (img["key"], a["bbox"])        # blacked out in the stored image

    import datasets

    assert main(["manifest", "export", str(split), "--format", "hf", "--out", str(tmp_path / "hf"), "-q"]) == 0
    dd = datasets.load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    assert sum(len(d) for d in dd.values()) == 24 and set(dd) <= {"train", "validation", "test"}
    assert "no group is in two splits (checked on the exported rows)" in (tmp_path / "hf" / "README.md").read_text()
    row = dd["train"][0]
    assert row["image"].size == (128, 128) and row["key"].startswith("sample:") and row["text"]
    stats = json.loads((cur / "stats.json").read_text())
    phi_rows = sum(1 for d in dd.values() for r in d.select_columns(["phi_flags"]) if r["phi_flags"])
    assert phi_rows >= stats["quality_flags"].get("phi_in_pixels", 0)

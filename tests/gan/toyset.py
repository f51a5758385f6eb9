"""A tiny class-distinguishable, imbalanced chest-X-ray-like manifest for GAN/classifier tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from manifests.io import write_manifest
from manifests.labels import NIH15
from manifests.schema import from_records, labels_list

CLASSES = ("Cardiomegaly", "Effusion", "Nodule", "No Finding")


def toy_image(cls: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Grey 'thorax' with noise; each class adds its own bright pattern at its own place."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 90 + 40 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.08) + rng.normal(0, 12, (size, size))
    c = size // 2
    if cls == 0:    # large central blob
        img += 90 * (((xx - 0.5) ** 2 + (yy - 0.6) ** 2) < 0.04)
    elif cls == 1:  # bright bottom band
        img[int(size * 0.8):, :] += 100
    elif cls == 2:  # small bright spot upper left
        img[c // 3: c // 3 + 6, c // 3: c // 3 + 6] += 140
    return np.clip(img, 0, 255).astype(np.uint8)


def make_manifest(root: Path, *, counts=(10, 10, 10, 34), seed: int = 0, size: int = 64,
                  splits=(0.6, 0.2, 0.2), with_split: bool = True) -> Path:
    """Write PNGs + ``manifest.parquet`` under ``root``; patient-grouped split (2 images/patient)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    recs = []
    for cls, n in enumerate(counts):
        names = [CLASSES[cls]]
        patients = [f"p{cls}_{i // 2}" for i in range(n)]
        uniq = sorted(set(patients))
        order = rng.permutation(len(uniq))
        cut1, cut2 = int(len(uniq) * splits[0]), int(len(uniq) * (splits[0] + splits[1]))
        pmap = {uniq[j]: ("train" if r < cut1 else "val" if r < cut2 else "test") for r, j in enumerate(order)}
        for i in range(n):
            key = f"toy{cls}_{i}"
            rel = f"images/{key}.png"
            Image.fromarray(toy_image(cls, rng, size)).save(root / rel)
            states = {f: ("positive" if f in names else "negative") for f in NIH15}
            recs.append({
                "key": f"toy:{key}", "source": "toy", "source_id": key, "image_path": rel,
                "patient_id": patients[i], "labels": labels_list(states, "dataset"),
                "split": pmap[patients[i]] if with_split else None, "width": size, "height": size,
            })
    return write_manifest(from_records(recs), root / "manifest.parquet")

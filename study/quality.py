"""Generator quality per class, judged before any classifier uses the synthetic rows.

For each class of a seed's generator (:func:`generator_quality`):

* **class consistency**, two ways: the fraction of class-c samples that a classifier trained on the
  real train rows only (the study's reference arm) assigns to c, with its mean probability; and the
  linear feature probe of :func:`gan.evaluate.evaluate_generator`. Chance is 1 / n_classes: a
  generator that ignores its label scores near chance however sharp its images look.
* **coverage**: improved precision / recall in feature space (recall = how much of the real
  class's manifold the samples cover), FID / KID.
* **memorisation**: RMS pixel distance of each sample to its nearest real training image, beside the
  real-to-real nearest-neighbour distance (a sample much closer than real images are to each other
  is a copy); samples under the threshold are counted.

Also writes ``grids/real_<class>.png`` and ``grids/synthetic_<class>.png`` (8 x 8 tiles, same
scale), which the study's HTML shows side by side. Output: ``out/quality.json`` (+ the grids).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tile(images: np.ndarray, cols: int = 8) -> np.ndarray:
    """(N, S, S) uint8 -> one (rows*S + gaps, cols*S + gaps) uint8 grid, 2-px white gaps."""
    n, s = len(images), images.shape[-1] if len(images) else 8
    rows = max(1, -(-n // cols))
    grid = np.full((rows * (s + 2), cols * (s + 2)), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (s + 2):r * (s + 2) + s, c * (s + 2):c * (s + 2) + s] = im
    return grid


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def generator_quality(checkpoint: str | Path, manifest: str | Path, out: str | Path, *, classifier: str | Path,
                      n_per_class: int = 128, seed: int = 0, grid_n: int = 32) -> dict:
    import torch
    from PIL import Image

    from classify.data import MEAN, STD
    from classify.evaluate import load_classifier
    from gan import checkpoint as ckpt
    from gan.evaluate import evaluate_generator
    from gan.sample import generate
    from manifests.io import write_json_atomic
    from training.dataset_view import decode_images, load_view

    out = Path(out)
    (out / "grids").mkdir(parents=True, exist_ok=True)
    result = evaluate_generator(checkpoint, manifest, out, n_per_class=n_per_class, seed=seed)
    g, meta = ckpt.load_generator(checkpoint)
    classes = list(meta["classes"])
    model, ck = load_classifier(classifier)
    model.eval()
    train = load_view(manifest, classes=classes).split("train")
    train = train.subset(~train.synthetic)
    rng = np.random.default_rng(seed)
    for ci, cname in enumerate(classes):
        fake = generate(g, ci, n_per_class, seed=seed)
        x = torch.from_numpy(fake).float().div(255.0)
        if x.shape[-1] != ck["size"]:
            x = torch.nn.functional.interpolate(x[:, None], size=(ck["size"],) * 2, mode="bilinear", antialias=True)[:, 0]
        with torch.no_grad():
            p = model(x.sub(MEAN).div(STD)[:, None]).float().softmax(dim=1).numpy()
        j = list(ck["classes"]).index(cname) if cname in ck["classes"] else None
        pc = result["per_class"][cname]
        if j is not None:
            pc["classifier_consistency"] = round(float((p.argmax(axis=1) == j).mean()), 4)
            pc["classifier_mean_probability"] = round(float(p[:, j].mean()), 4)
        real_rows = np.flatnonzero(train.targets == ci)
        pick = rng.choice(real_rows, size=min(grid_n, len(real_rows)), replace=False) if len(real_rows) else real_rows
        real = decode_images([train.paths[i] for i in pick], fake.shape[-1]) if len(pick) else fake[:0]
        Image.fromarray(tile(real)).save(out / "grids" / f"real_{slug(cname)}.png")
        Image.fromarray(tile(fake[:grid_n])).save(out / "grids" / f"synthetic_{slug(cname)}.png")
    vals = [v.get("classifier_consistency") for v in result["per_class"].values()]
    result["mean"]["classifier_consistency"] = (round(float(np.mean([v for v in vals if v is not None])), 4)
                                                if any(v is not None for v in vals) else None)
    result["classifier"] = {"checkpoint": str(classifier), "trained_on": "real train rows only (reference arm)",
                            "chance": round(1 / len(classes), 4)}
    write_json_atomic(out / "quality.json", result)
    return result

"""Benchmark: are the sample dataset's findings learnable by a small CNN at 64 px?

    uv run python benches/bench_sample_learnable.py [--n 1200] [--epochs 10]

Generates a sample (no DICOM, no burned-in text), keeps the single-label images, holds out a
quarter of the patients, trains a 4-block CNN on 64 px images (class-weighted loss) on the CPU and
prints overall and per-class test accuracy. Reads nothing else; writes only a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from crawlers.sample.generator import CLASS_WEIGHTS, SampleConfig, generate

CLASSES = list(CLASS_WEIGHTS)


def load(store: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys, patients = [], [], []
    for line in (store / "ground_truth.jsonl").read_text().splitlines():
        gt = json.loads(line)
        if len(gt["findings"]) > 1 or gt["dup_of"] or gt["near_dup_of"]:
            continue
        img = Image.open(store / "files" / f"{gt['source_id']}.png").convert("L").resize((64, 64), Image.Resampling.BILINEAR)
        xs.append(np.asarray(img, dtype=np.float32) / 255.0)
        ys.append(CLASSES.index((gt["findings"] or ["No Finding"])[0]))
        patients.append(gt["patient_id"])
    return np.stack(xs), np.array(ys), patients


def main() -> None:
    import torch
    from torch import nn

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        generate(SampleConfig(n=args.n, seed=args.seed, dicom_rate=0.0, burn_rate=0.0), tmp)
        x, y, patients = load(Path(tmp) / "raw" / "sample")
    rng = np.random.default_rng(0)
    ids = sorted(set(patients))
    held = set(rng.choice(ids, len(ids) // 4, replace=False))
    test = np.array([p in held for p in patients])
    x = (x - x[~test].mean()) / x[~test].std()
    X, Y = torch.tensor(x)[:, None], torch.tensor(y)
    Xtr, Ytr, Xte, Yte = X[~test], Y[~test], X[test], Y[test]

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    net = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), *block(64, 64),
                        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, len(CLASSES)))
    counts = torch.bincount(Ytr, minlength=len(CLASSES)).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (len(CLASSES) * counts.clamp(min=1)))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    start = time.perf_counter()
    for _epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(Xtr))
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss_fn(net(Xtr[idx]), Ytr[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(Xte).argmax(1)
    per_class = {c: f"{(pred[Yte == k] == k).float().mean().item():.2f} (n={int((Yte == k).sum())})"
                 for k, c in enumerate(CLASSES)}
    print(f"train {len(Xtr)} / test {len(Xte)} images, {args.epochs} epochs, {time.perf_counter() - start:.0f} s")
    print(f"test accuracy {(pred == Yte).float().mean().item():.3f}; per class: {per_class}")


if __name__ == "__main__":
    main()

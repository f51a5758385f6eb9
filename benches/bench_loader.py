"""Data loading: our manifest Dataset vs torchvision ImageFolder over the same images, images/s.

    uv run python benches/bench_loader.py [MANIFEST] [--size 64] [--passes 3]

Without MANIFEST a 600-image toy set (256 px PNGs) is generated in a temp dir. ImageFolder gets
the same files (symlinked into class folders) and the equivalent transform (grey, resize, tensor).
Each loader does ``--passes`` full passes (DataLoader, batch 64, num_workers 0); the first pass of
ManifestDataset decodes, later passes hit its in-memory cache. Prints wall- and CPU-time rates
and the load average (this machine is shared: CPU-time rates are the fairer number).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest", nargs="?")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    import torch
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    from classify.data import MEAN, STD, ManifestDataset
    from training.dataset_view import load_view

    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp(prefix="bench_loader_"))
    manifest = args.manifest
    if manifest is None:
        from tests.gan.toyset import make_manifest

        manifest = make_manifest(tmp / "toy", counts=(100, 100, 100, 300), size=256)
    view = load_view(manifest)
    folder = tmp / "folder"
    for i, (p, t) in enumerate(zip(view.paths, view.targets)):
        d = folder / view.classes[int(t)].replace(" ", "_")
        d.mkdir(parents=True, exist_ok=True)
        os.symlink(p, d / f"{i:06d}{p.suffix}")
    ours = ManifestDataset(view, size=args.size)
    tf = transforms.Compose([transforms.Grayscale(1), transforms.Resize((args.size, args.size)),
                             transforms.ToTensor(), transforms.Normalize([MEAN], [STD])])
    theirs = ImageFolder(str(folder), transform=tf)
    assert len(theirs) == len(ours)

    def one_pass(ds):
        n = 0
        for x, _ in DataLoader(ds, batch_size=64, shuffle=False, num_workers=0):
            n += x.shape[0]
        return n

    print(f"images: {len(ours)}  size: {args.size}px  load average: {os.getloadavg()[0]:.1f}  torch threads: 2")
    print(f"{'loader':<34}{'pass':>5}{'img/s (wall)':>14}{'img/s (cpu)':>13}")
    for name, ds in (("ManifestDataset (cache)", ours), ("torchvision ImageFolder", theirs)):
        for k in range(args.passes):
            n, wall, cpu = _timed(lambda: one_pass(ds))
            print(f"{name:<34}{k + 1:>5}{n / wall:>14.0f}{n / max(cpu, 1e-9):>13.0f}")
    ours_nc = ManifestDataset(view, size=args.size, cache=False)
    n, wall, cpu = _timed(lambda: one_pass(ours_nc))
    print(f"{'ManifestDataset (cache=False)':<34}{1:>5}{n / wall:>14.0f}{n / max(cpu, 1e-9):>13.0f}")
    n, wall, cpu = _timed(lambda: ours.tensors()[0].shape[0])
    print(f"{'ManifestDataset.tensors() cached':<34}{1:>5}{n / wall:>14.0f}{n / max(cpu, 1e-9):>13.0f}")


if __name__ == "__main__":
    main()

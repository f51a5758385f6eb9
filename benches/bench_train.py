"""Training throughput (images/s) of the GAN and the classifier at 64 px: CPU, and GPU when present.

    uv run python benches/bench_train.py [--seconds 10] [--device cpu|cuda]

Random 64-px inputs (data loading is benches/bench_loader.py's business). One "GAN image" is one
real image through a full D step + G step (hinge loss, DiffAugment on, batch 32); one classifier
image is one forward+backward+AdamW step (batch 32; on CUDA with autocast fp16 + GradScaler).
Prints wall- and CPU-time rates and the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench(step, seconds: float, batch: int, device) -> tuple[float, float]:
    import torch

    step()   # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < seconds:
        step()
        n += batch
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - w0), n / max(time.process_time() - c0, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1, see training.distributed.DEFAULT_THREADS)")
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    from classify.data import classic
    from classify.models import build as build_clf
    from gan.diffaug import diff_augment, parse_policy
    from gan.registry import build as build_gan

    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    from training.distributed import DEFAULT_THREADS

    threads = args.threads or DEFAULT_THREADS
    torch.set_num_threads(threads)
    amp = dev.type == "cuda"
    b = args.batch
    print(f"device: {dev} ({torch.cuda.get_device_name(dev) if amp else f'{os.cpu_count()} cores, {threads} threads'})  "
          f"load average: {os.getloadavg()[0]:.1f}  batch {b}  64 px")
    print(f"{'model':<34}{'img/s (wall)':>14}{'img/s (cpu)':>13}")
    pol = parse_policy("translation,cutout,brightness")
    from gan.train import mode_seeking_loss

    for arch, ch, remedies in (("dcgan", 16, False), ("dcgan", 16, True), ("dcgan", 32, False), ("resnet", 16, False),
                               ("resnet", 32, False)):
        torch.manual_seed(0)
        g, d = build_gan(arch, n_classes=8, size=64, z_dim=64, g_ch=ch, d_ch=ch, aux=remedies)
        g, d = g.to(dev), d.to(dev)
        og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.0, 0.9))
        od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.0, 0.9))
        real = torch.rand(b, 1, 64, 64, device=dev) * 2 - 1
        y = torch.randint(0, 8, (b,), device=dev)
        ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp else (lambda: torch.autocast("cpu", enabled=False))

        def step():
            z = torch.randn(b, 64, device=dev)
            with ctx():
                with torch.no_grad():
                    fake = g(z, y)
                out, cls = d(diff_augment(torch.cat([real, fake.float()]), pol), torch.cat([y, y]))
                out = out.float()
                ld = F.relu(1 - out[:b]).mean() + F.relu(1 + out[b:]).mean()
                if cls is not None:
                    ld = ld + F.cross_entropy(cls[:b].float(), y)
            od.zero_grad()
            ld.backward()
            od.step()
            with ctx():
                fake = g(z, y)
                out, cls = d(diff_augment(fake.float(), pol), y)
                lg = -out.float().mean()
                if remedies:    # the study's setting: AC-GAN term + mode seeking on row pairs
                    h = b // 2
                    lg = lg + F.cross_entropy(cls.float(), y) + 0.1 * mode_seeking_loss(fake[:h], fake[h:2 * h], z[:h], z[h:2 * h])
            og.zero_grad()
            lg.backward()
            og.step()

        wall, cpu = bench(step, args.seconds, b, dev)
        print(f"{f'GAN {arch} ch={ch}' + (' +AC-GAN+MS' if remedies else ''):<34}{wall:>14.0f}{cpu:>13.0f}")
    for arch in ("small-cnn", "resnet18", "densenet121"):
        torch.manual_seed(0)
        m = build_clf(arch, n_classes=8).to(dev)
        opt = torch.optim.AdamW(m.parameters(), 1e-3)
        scaler = torch.amp.GradScaler(enabled=amp)
        x = torch.randn(b, 1, 64, 64, device=dev)
        y = torch.randint(0, 8, (b,), device=dev)

        def step():
            with torch.autocast("cuda", dtype=torch.float16) if amp else torch.autocast("cpu", enabled=False):
                loss = F.cross_entropy(m(classic(x)).float(), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        wall, cpu = bench(step, args.seconds, b, dev)
        print(f"{f'classifier {arch} (classic aug)':<34}{wall:>14.0f}{cpu:>13.0f}")


if __name__ == "__main__":
    main()

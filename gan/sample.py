"""Generate synthetic images from a checkpoint's EMA generator and describe them as manifest records.

Writes into ``out``: ``images/<class>/<n>.png`` (8-bit grey), ``manifest.parquet`` (records with
``synthetic=True``, ``generator=<checkpoint id>``, labels with ``label_source="synthetic"``,
``split="train"``, key ``synthetic:<checkpoint id>-<class>-<n>``), ``stats.json`` last.
The manifest's image paths are relative to ``out``; merge it with a real manifest through
:func:`manifests.io.rebase_image_paths` + :func:`manifests.io.merge`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from gan import checkpoint as ckpt
from training.dataset_view import load_view
from manifests.errors import UsageError
from manifests.io import write_json_atomic, write_manifest
from manifests.labels import NIH15
from manifests.schema import from_records, labels_list

STAGE_VERSION = "gan.sample/1"


def balance_counts(class_counts: dict[str, int], *, target_ratio: float = 1.0) -> dict[str, int]:
    """How many images each class needs to reach ``target_ratio`` x the largest class."""
    if not 0 < target_ratio <= 10:
        raise UsageError(f"--target-ratio {target_ratio} must be in (0, 10]")
    top = max(class_counts.values())
    return {c: max(0, int(round(target_ratio * top)) - n) for c, n in class_counts.items()}


def sample_balanced(checkpoint: str | Path, manifest: str | Path, out: str | Path, *, target_ratio: float = 1.0,
                    seed: int = 0, classes: list[str] | None = None, candidates: int = 1) -> tuple[dict, dict[str, int]]:
    """Top up ``manifest``'s train split: count its real train rows per class (the generator's classes,
    or ``classes``), work out how many each class needs to reach ``target_ratio`` x the largest, and
    sample ``candidates`` x that many (for a later filter) into ``out``. Returns (the
    :func:`sample_to_manifest` summary, {class: images needed})."""
    _, meta = ckpt.load_generator(checkpoint)
    need = balance_counts(counts_from_manifest(manifest, classes or list(meta["classes"])), target_ratio=target_ratio)
    summary = sample_to_manifest(checkpoint, out, n_per_class={c: n * candidates for c, n in need.items()}, seed=seed)
    return summary, need


def counts_from_manifest(manifest: str | Path, classes: list[str]) -> dict[str, int]:
    """Real train rows per class of ``manifest`` (single-label subset, checkpoint's classes)."""
    view = load_view(manifest, classes=classes)
    train = view.split("train")
    train = train.subset(~train.synthetic)
    return dict(zip(view.classes, train.class_counts().tolist()))


@torch.no_grad()
def generate(g: torch.nn.Module, cls: int, n: int, *, seed: int, batch: int = 128) -> np.ndarray:
    """``n`` images of class ``cls`` -> uint8 (n, S, S). Depends only on (seed, cls, n)."""
    gen = torch.Generator().manual_seed(seed * 7919 + cls)
    dev = next(g.parameters()).device
    out = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        z = torch.randn(b, g.z_dim, generator=gen).to(dev)
        x = g(z, torch.full((b,), cls, dtype=torch.long, device=dev)).float().cpu()
        out.append(((x[:, 0] + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy())
    return np.concatenate(out) if out else np.empty((0, g.size, g.size), np.uint8)


def sample_to_manifest(checkpoint: str | Path, out: str | Path, *, n_per_class: int | dict[str, int],
                       seed: int = 0) -> dict:
    """Write synthetic images + manifest; ``n_per_class`` is one count or {class: count}."""
    from PIL import Image

    out = Path(out)
    g, meta = ckpt.load_generator(checkpoint)
    gid = ckpt.checkpoint_id(checkpoint)
    classes = list(meta["classes"])
    wanted = n_per_class if isinstance(n_per_class, dict) else {c: int(n_per_class) for c in classes}
    unknown = [c for c in wanted if c not in classes]
    if unknown:
        raise UsageError(f"class '{unknown[0]}' is not one the generator knows ({', '.join(classes)})")
    recs = []
    for ci, cname in enumerate(classes):
        n = int(wanted.get(cname, 0))
        if n <= 0:
            continue
        slug = cname.replace(" ", "_")
        (out / "images" / slug).mkdir(parents=True, exist_ok=True)
        imgs = generate(g, ci, n, seed=seed)
        states = {f: ("positive" if f == cname else "negative") for f in NIH15}
        for i, arr in enumerate(imgs):
            rel = f"images/{slug}/{i:05d}.png"
            Image.fromarray(arr).save(out / rel)
            sid = f"{gid}-{slug}-{i:05d}"
            recs.append({
                "key": f"synthetic:{sid}", "source": "synthetic", "source_id": sid, "image_path": rel,
                "image_sha256": hashlib.sha256((out / rel).read_bytes()).hexdigest(),
                "width": int(arr.shape[1]), "height": int(arr.shape[0]), "bit_depth": 8, "body_part": "chest",
                "patient_id": f"synthetic:{gid}", "labels": labels_list(states, "synthetic", annotator=gid),
                "split": "train", "synthetic": True, "generator": gid, "status": "ok",
                "meta": json.dumps({"checkpoint": str(ckpt.checkpoint_file(checkpoint)), "seed": seed, "class": cname,
                                    "epoch": meta["epoch"]}),
                "stage_version": STAGE_VERSION,
            })
    write_manifest(from_records(recs), out / "manifest.parquet", meta={"generator": gid})
    per_class = {c: int(wanted.get(c, 0)) for c in classes}
    summary = {"generator": gid, "images": len(recs), "per_class": per_class, "manifest": str(out / "manifest.parquet")}
    write_json_atomic(out / "stats.json", summary)
    return summary

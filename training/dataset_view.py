"""A manifest seen as a training set: rows, targets, splits and decoded pixels (no torch).

Both model spokes (``gan/``, ``classify/``) read manifests the same way; the shared, framework-free
part lives here so they need not import each other:

* :func:`load_view` -> :class:`View`: the usable rows (``status == "ok"``) with absolute image paths,
  split, patient, synthetic flag and targets over a class list, either **single-label** (rows with
  exactly one positive NIH-15 finding; "No Finding" is a class) or **multi-label** (multi-hot).
* :func:`decode_images`: PNG/JPEG files -> ``uint8`` array ``(N, size, size)`` (grey, resized).
* :func:`epoch_indices`: the sample order of one epoch (optionally class-balanced), identical on
  every process for a seed and epoch, sliced per rank — exact resume and DDP both rely on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from manifests.errors import UsageError
from manifests.io import read_manifest, resolve_manifest
from manifests.labels import NIH15, canonical
from manifests.schema import primary_labels

_COLUMNS = ("key", "image_path", "labels", "split", "patient_id", "status", "synthetic", "generator")


@dataclasses.dataclass(frozen=True)
class View:
    """Usable rows of a manifest. ``targets`` is ``(N,)`` int64 (single-label) or ``(N, C)`` float32."""

    root: Path
    keys: list[str]
    paths: list[Path]
    splits: np.ndarray          # (N,) object: "train" | "val" | "test" | None
    patients: list[str | None]
    synthetic: np.ndarray       # (N,) bool
    targets: np.ndarray
    classes: tuple[str, ...]
    multi_label: bool

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, mask: np.ndarray) -> "View":
        idx = np.flatnonzero(mask)
        return dataclasses.replace(
            self, keys=[self.keys[i] for i in idx], paths=[self.paths[i] for i in idx],
            splits=self.splits[idx], patients=[self.patients[i] for i in idx],
            synthetic=self.synthetic[idx], targets=self.targets[idx],
        )

    def split(self, name: str) -> "View":
        return self.subset(self.splits == name)

    def class_counts(self) -> np.ndarray:
        if self.multi_label:
            return self.targets.sum(axis=0).astype(np.int64)
        return np.bincount(self.targets, minlength=len(self.classes)).astype(np.int64)

    def assert_no_synthetic_in_eval(self) -> None:
        """Synthetic records may only ever be training data."""
        bad = self.synthetic & np.isin(self.splits, ["val", "test"])
        if bad.any():
            key = self.keys[int(np.flatnonzero(bad)[0])]
            raise AssertionError(f"synthetic record {key!r} is in split {self.splits[np.flatnonzero(bad)[0]]!r}: "
                                 "generated images must never reach val or test")


def _positives(labels: list[dict] | None) -> list[str]:
    return [f for f, s in primary_labels(labels).items() if s == "positive" and f in NIH15]


def load_view(manifest: str | Path, *, classes: Sequence[str] | None = None, multi_label: bool = False,
              min_count: int = 1, require_split: bool = True) -> View:
    """Read a manifest into a :class:`View`.

    ``classes`` (canonical or source spellings) restricts and orders the classes; rows whose (single)
    positive finding is not among them are dropped. Without ``classes``: every NIH-15 finding with at
    least ``min_count`` usable rows, in NIH-15 order.
    """
    path = resolve_manifest(manifest)
    table = read_manifest(path, columns=_COLUMNS)
    table = table.filter(pc.equal(table.column("status"), "ok"))
    rows = table.to_pylist()
    if require_split and any(r["split"] not in ("train", "val", "test") for r in rows):
        raise UsageError(f"manifest '{path}' has rows without a train/val/test split; run `medharvest manifest split` first")
    pos = [_positives(r["labels"]) for r in rows]
    keep = [i for i, p in enumerate(pos) if (len(p) >= 1 if multi_label else len(p) == 1)]
    if classes is None:
        counts = {f: 0 for f in NIH15}
        for i in keep:
            for f in pos[i]:
                counts[f] += 1
        classes = tuple(f for f in NIH15 if counts[f] >= max(1, min_count))
    else:
        classes = tuple(canonical(c) for c in classes)
        bad = [c for c in classes if c not in NIH15]
        if bad:
            raise UsageError(f"class '{bad[0]}' is not a ChestX-ray14 finding")
    if not classes:
        raise UsageError(f"manifest '{path}' has no class with at least {min_count} usable rows")
    index = {c: i for i, c in enumerate(classes)}
    if multi_label:
        keep = [i for i in keep if any(f in index for f in pos[i])]
        targets = np.zeros((len(keep), len(classes)), dtype=np.float32)
        for j, i in enumerate(keep):
            for f in pos[i]:
                if f in index:
                    targets[j, index[f]] = 1.0
    else:
        keep = [i for i in keep if pos[i][0] in index]
        targets = np.array([index[pos[i][0]] for i in keep], dtype=np.int64)
    root = path.parent
    return View(
        root=root,
        keys=[rows[i]["key"] for i in keep],
        paths=[root / rows[i]["image_path"] for i in keep],
        splits=np.array([rows[i]["split"] for i in keep], dtype=object),
        patients=[rows[i]["patient_id"] for i in keep],
        synthetic=np.array([bool(rows[i]["synthetic"]) for i in keep], dtype=bool),
        targets=targets,
        classes=tuple(classes),
        multi_label=multi_label,
    )


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One image file -> ``uint8 (size, size)`` grey (area-resampled when the size differs)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L")
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BOX if im.width > size else Image.Resampling.BILINEAR)
        return np.array(im, dtype=np.uint8)


def decode_images(paths: Sequence[str | Path], size: int) -> np.ndarray:
    """Image files -> ``uint8 (N, size, size)``."""
    out = np.empty((len(paths), size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        out[i] = decode_image(p, size)
    return out


def balanced_weights(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-row sampling weights that make every class equally likely (single-label targets)."""
    counts = np.bincount(targets, minlength=n_classes).astype(np.float64)
    return 1.0 / np.maximum(counts[targets], 1.0)


def epoch_indices(n: int, *, seed: int, epoch: int, weights: np.ndarray | None = None,
                  num_samples: int | None = None, rank: int = 0, world: int = 1) -> np.ndarray:
    """Row order of one epoch: a permutation (or a weighted draw with replacement), this rank's slice.

    Depends only on ``(seed, epoch)``, so every rank draws the same order and takes every
    ``world``-th element starting at ``rank`` (padded by wrapping so all ranks get equally many).
    """
    rng = np.random.default_rng([seed, epoch])
    total = num_samples or n
    if weights is None:
        order = rng.permutation(n)
        if total > n:
            order = np.concatenate([order, rng.permutation(n)[: total - n]] if total <= 2 * n
                                   else [order] + [rng.permutation(n) for _ in range(total // n)])[:total]
        order = order[:total]
    else:
        p = np.asarray(weights, dtype=np.float64)
        order = rng.choice(n, size=total, replace=True, p=p / p.sum())
    per_rank = -(-len(order) // world)
    if per_rank * world > len(order):
        order = np.concatenate([order, order[: per_rank * world - len(order)]])
    return order[rank::world]


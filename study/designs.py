"""How the study's jobs get their manifests: K-fold re-splits, per-seed imbalanced subsamples,
and pooling out-of-fold test scores back into one set of metrics per seed."""

from __future__ import annotations

from pathlib import Path

from manifests.errors import UsageError
from study.arms import names as arm_names


def fold_manifests(manifest: Path, seed_dir: Path, *, folds: int, seed: int) -> list[Path]:
    """``manifest`` re-split once per fold of a seeded K-fold partition (fold k: test k, val k+1, train
    the rest), written as ``seed_dir/fold_<k>/manifest.parquet``; existing ones are kept (resume)."""
    import numpy as np
    import pyarrow as pa

    from manifests.io import read_manifest, write_manifest
    from manifests.ops.split import fold_codes

    paths = [seed_dir / f"fold_{k}" / "manifest.parquet" for k in range(folds)]
    if all(p.exists() for p in paths):
        return paths
    table = read_manifest(manifest)
    f = fold_codes(table, folds, seed=seed)
    col = table.schema.get_field_index("split")
    for k, path in enumerate(paths):
        if path.exists():
            continue
        split = np.where(f == k, "test", np.where(f == (k + 1) % folds, "val", "train"))
        write_manifest(table.set_column(col, "split", pa.array(split.tolist(), pa.string())), path,
                       images_from=manifest.parent,
                       meta={"cross_validation": {"folds": folds, "fold": k, "seed": seed, "source": str(manifest)}})
    return paths


def pool_folds(seed_dir: Path, folds: int, classes: list[str]) -> dict[str, dict]:
    """Per arm: metrics of the out-of-fold test scores of all ``folds`` folds pooled (each image once)."""
    import numpy as np

    from classify.metrics import compute

    pooled = {}
    for arm in arm_names():
        parts = [np.load(seed_dir / f"fold_{k}" / arm / "eval" / "scores.npz") for k in range(folds)]
        keys = np.concatenate([p["keys"] for p in parts])
        assert len(set(keys.tolist())) == len(keys), "an image was tested in two folds"
        m = compute(np.concatenate([p["scores"] for p in parts]), np.concatenate([p["targets"] for p in parts]),
                    classes, multi_label=False)
        m.update(split="out-of-fold test", folds=folds)
        pooled[arm] = m
    return pooled


def imbalanced_manifests(manifest: Path, out: Path, *, seeds: int, cls: str, ratio: float) -> list[Path]:
    """Per seed, ``manifest`` with only ``ratio`` of ``cls``'s train rows kept (whole patients, drawn
    with the seed; the rows left out are gone, never seen by any arm); val and test unchanged.
    Written as ``out/seed_<s>/manifest.parquet``; existing ones are kept (resume)."""
    import numpy as np
    import pyarrow as pa

    from manifests.io import read_manifest, write_manifest
    from training.dataset_view import load_view

    if not 0 < ratio <= 1:
        raise UsageError(f"--ratios: {ratio} must be in (0, 1]")
    view = load_view(manifest)
    if cls not in view.classes:
        from manifests.registry import did_you_mean

        raise UsageError(f"--imbalance: class '{cls}' is not a single-label class of the manifest"
                         f"{did_you_mean(cls, view.classes)}")
    ci = view.classes.index(cls)
    rows = [i for i in range(len(view)) if view.splits[i] == "train" and view.targets[i] == ci]
    paths = [out / f"seed_{s}" / "manifest.parquet" for s in range(seeds)]
    table = read_manifest(manifest)
    pos = {k: i for i, k in enumerate(table.column("key").to_pylist())}
    for s, path in enumerate(paths):
        if path.exists():
            continue
        rng = np.random.default_rng([s, 20_251_204])
        by_patient: dict[str, list[int]] = {}
        for i in rows:
            by_patient.setdefault(str(view.patients[i] or view.keys[i]), []).append(i)
        want = max(1, round(ratio * len(rows)))
        kept: list[int] = []
        for p in rng.permutation(sorted(by_patient)):
            if len(kept) >= want:
                break
            kept += by_patient[p]
        drop = {pos[view.keys[i]] for i in rows} - {pos[view.keys[i]] for i in kept}
        mask = pa.array([i not in drop for i in range(table.num_rows)])
        write_manifest(table.filter(mask), path, images_from=manifest.parent,
                       meta={"imbalance": {"class": cls, "ratio": ratio, "seed": s, "kept_train_rows": len(kept),
                                           "of": len(rows), "source": str(manifest)}})
    return paths

"""The augmentation study: does GAN augmentation of rare classes help a classifier? (wires gan + classify)

:func:`run_experiment` runs four arms with the same budget (same epochs, same steps per epoch, same
val-based early stopping, same backbone) for each seed:

* ``baseline`` — real train rows, no augmentation;
* ``classic`` — real rows, random affine + intensity augmentation;
* ``oversample`` — real rows, class-balanced sampling with replacement;
* ``gan`` — real rows + synthetic rows from a GAN trained (per seed) on the train split only, sampled
  to top minority classes up to ``target_ratio`` x the largest class. With ``Budget.gan_filter`` = k > 1,
  k candidates are generated per kept image and the baseline arm's classifier (real rows only)
  keeps the most class-like ones (sample filtering);
* ``classic+gan`` — the same real + synthetic rows with classic augmentation on top: the protocol
  of Frid-Adar et al. (2018), whose question is what synthetic rows add to classic augmentation
  (compare it with ``classic``; ``gan`` against ``baseline``).

Every arm is evaluated on the same test split (no synthetic rows ever there). Output layout:
``out/seed_<s>/{generator,gan_aug,<arm>/...}``, ``out/results.json``, ``out/table.md``, ``out/table.csv``,
``out/*.png``, ``out/summary.html`` (self-contained), ``out/stats.json`` last. Finished pieces are
skipped on re-run (resume).

Cross-validation (``folds`` = K >= 2), for sets too small for one fixed test split (568 NIH images
leave two test positives for a rare class, and AUROC from two positives swings by 0.3 between
seeds): the manifest's own split is ignored; each seed draws a patient-grouped, label-stratified
K-fold partition (:func:`manifests.ops.split.fold_codes`), and fold k is the test set of
``out/seed_<s>/fold_<k>/`` (val: fold k+1, train: the rest; the GAN again trains on that train part
only). Each arm's out-of-fold test scores are pooled over the K folds into one set of metrics per
seed, so every image is tested exactly once per seed; seeds are repeats with new partitions.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from manifests.errors import UsageError

ARMS = ("baseline", "classic", "oversample", "gan", "classic+gan")
#: arm -> (classifier augmentation policy, trains on the GAN-augmented manifest)
_ARM_SETUP = {"baseline": ("none", False), "classic": ("classic", False), "oversample": ("oversample", False),
              "gan": ("none", True), "classic+gan": ("classic", True)}


@dataclasses.dataclass(frozen=True)
class Budget:
    clf_epochs: int
    patience: int
    gan_steps: int     # GAN updates, whatever the train size (epochs = ceil(gan_steps / steps per epoch))
    gan_ch: int
    batch_size: int = 32
    arch: str = "small-cnn"
    gan_arch: str = "dcgan"
    target_ratio: float = 0.5
    diffaug_strength: float = 1.0
    ema_decay: float = 0.99
    gan_aux_weight: float = 1.0     # AC-GAN class term (against class collapse)
    gan_ms_weight: float = 0.1      # mode seeking (against z collapse)
    gan_lecam_weight: float = 0.0   # LeCam regulariser (limited data)
    gan_lr_g: float = 1e-4          # two time-scale update rule: D learns 4x faster than G
    gan_lr_d: float = 4e-4
    gan_filter: int = 0             # > 1: generate this many candidates per kept image, keep the most class-like
    gan_filter_min_prob: float = 0.0  # with gan_filter: drop kept images the filter gives less than this
    syn_weight: float = 1.0         # loss weight of a synthetic row (classify.train.ClassifyConfig.synthetic_weight)
    syn_smoothing: float = 0.0      # label smoothing of synthetic rows (1.0: uniform labels, LSRO)
    clf_ema_decay: float = 0.0
    clf_select_on: str = "auroc"


BUDGETS = {
    "small": Budget(clf_epochs=8, patience=4, gan_steps=120, gan_ch=16),
    "full": Budget(clf_epochs=40, patience=8, gan_steps=1200, gan_ch=16, ema_decay=0.995, gan_filter=4),
}


def choose_classes(manifest: str | Path, *, min_train: int = 5, folds: int = 0) -> tuple[list[str], dict]:
    """Single-label classes usable for the study: >= ``min_train`` train rows and >= 1 val and test row.

    Under ``folds``-fold cross-validation the manifest's split does not count: a class needs
    >= max(``min_train``, ``folds``) rows in all (one per fold at least).
    """
    from training.dataset_view import load_view

    view = load_view(manifest)
    counts = {s: view.split(s).class_counts() for s in ("train", "val", "test")}
    if folds:
        total = view.class_counts()
        keep = [c for i, c in enumerate(view.classes) if total[i] >= max(min_train, folds)]
        need = f">= {max(min_train, folds)} rows"
    else:
        keep = [c for i, c in enumerate(view.classes)
                if counts["train"][i] >= min_train and counts["val"][i] >= 1 and counts["test"][i] >= 1]
        need = f">= {min_train} train rows and rows in val and test"
    if len(keep) < 2:
        raise UsageError(f"manifest '{manifest}' has fewer than 2 single-label classes with {need}")
    table = {c: {s: int(counts[s][i]) for s in counts} for i, c in enumerate(view.classes)}
    if folds:
        for i, c in enumerate(view.classes):
            table[c]["all"] = int(total[i])
    return keep, table


def filter_synthetic(candidates: str | Path, classifier: str | Path, need: dict[str, int], *, min_prob: float = 0.0):
    """Keep, per class, the ``need[c]`` synthetic rows a classifier trained on REAL rows finds most like c.

    ``candidates``: a synthetic manifest; returns its kept rows (pyarrow Table) in input order,
    {class: mean probability of the kept rows} and {class: number kept}. Sample filtering: a class-blind generator
    otherwise adds images of 'No Finding' labelled as a rare class. ``min_prob`` > 0 also gates:
    a row whose class probability is below it is dropped even when that leaves its class short
    (for a class the generator cannot draw, no synthetic rows at all instead of label noise).
    """
    import numpy as np
    import pyarrow as pa
    import torch

    from classify.data import ManifestDataset
    from classify.evaluate import load_classifier
    from classify.train import predict
    from training.dataset_view import load_view
    from manifests.io import read_manifest

    model, ck = load_classifier(classifier)
    view = load_view(candidates, classes=list(ck["classes"]))
    probs = predict(model, ManifestDataset(view, size=ck["size"]), multi_label=False, device=torch.device("cpu"))
    keep_keys, kept_prob, kept_n = set(), {}, {}
    for ci, cname in enumerate(ck["classes"]):
        rows = np.flatnonzero(view.targets == ci)
        top = rows[np.argsort(-probs[rows, ci], kind="stable")[: need.get(cname, 0)]]
        top = top[probs[top, ci] >= min_prob]
        keep_keys.update(view.keys[i] for i in top)
        if cname in need:
            kept_n[cname] = len(top)
        if len(top):
            kept_prob[cname] = round(float(probs[top, ci].mean()), 4)
    table = read_manifest(candidates)
    mask = pa.array([k in keep_keys for k in table.column("key").to_pylist()])
    return table.filter(mask), kept_prob, kept_n


def gan_augmented_manifest(manifest: str | Path, checkpoint: str | Path, out: str | Path, *, target_ratio: float = 1.0,
                           seed: int = 0, classes: list[str] | None = None, filter_with: str | Path | None = None,
                           candidates: int = 4, min_prob: float = 0.0) -> Path:
    """Sample the GAN to top up ``manifest``'s train split; write real + synthetic rows as ``out/manifest.parquet``.

    ``filter_with``: a classifier checkpoint trained on the real rows; ``candidates`` x as many images
    are generated and the most class-like are kept (:func:`filter_synthetic`).
    """
    from gan.checkpoint import load_generator
    from gan.sample import balance_counts, counts_from_manifest, sample_to_manifest
    from manifests.io import merge, read_manifest, rebase_image_paths, resolve_manifest, write_json_atomic, write_manifest

    out = Path(out)
    _, meta = load_generator(checkpoint)
    need = balance_counts(counts_from_manifest(manifest, classes or meta["classes"]), target_ratio=target_ratio)
    syn_dir = out / "synthetic"
    factor = candidates if filter_with else 1
    sample_to_manifest(checkpoint, syn_dir, n_per_class={c: n * factor for c, n in need.items()}, seed=seed)
    real_path = resolve_manifest(manifest)
    real = rebase_image_paths(read_manifest(real_path), real_path.parent, out)
    syn = read_manifest(syn_dir)
    if filter_with:
        syn, kept_prob, kept = filter_synthetic(syn_dir, filter_with, need, min_prob=min_prob)
        write_json_atomic(out / "filter.json", {"classifier": str(filter_with), "candidates_per_kept": factor,
                                                "wanted": dict(need), "kept": kept, "min_probability": min_prob,
                                                "mean_probability_of_kept": kept_prob})
    syn = rebase_image_paths(syn, syn_dir, out)
    merged, _ = merge([real, syn])
    return write_manifest(merged, out / "manifest.parquet", meta={"augmented_with": str(checkpoint)})


def _run_seed(manifest: Path, out: Path, seed: int, b: Budget, classes: list[str], steps: int, quiet: bool,
              timings: dict, threads: int | None = None) -> dict[str, dict]:
    import json

    from classify.evaluate import evaluate_classifier
    from classify.train import ClassifyConfig, train_classifier
    from gan.train import GanConfig, train_gan

    results: dict[str, dict] = {}
    gan_dir = out / "generator"
    t0 = time.perf_counter()
    if not (gan_dir / "stats.json").exists():
        gcfg = GanConfig(arch=b.gan_arch, epochs=-(-b.gan_steps // steps), g_ch=b.gan_ch, d_ch=b.gan_ch, batch_size=b.batch_size,
                         classes=tuple(classes), seed=seed, ema_decay=b.ema_decay,
                         diffaug_strength=b.diffaug_strength, aux_weight=b.gan_aux_weight,
                         ms_weight=b.gan_ms_weight, lecam_weight=b.gan_lecam_weight, lr_g=b.gan_lr_g, lr_d=b.gan_lr_d,
                         quiet=quiet, resume=True, threads=threads)
        train_gan(gcfg, manifest, gan_dir)
    aug_manifest = out / "gan_aug" / "manifest.parquet"
    timings.setdefault("generator", []).append(time.perf_counter() - t0)
    for arm in ARMS:     # the GAN arms come last: the filter uses the baseline arm's classifier
        policy, gan_arm = _ARM_SETUP[arm]
        if gan_arm and not aug_manifest.exists():
            gan_augmented_manifest(manifest, gan_dir / "checkpoint.pt", out / "gan_aug", target_ratio=b.target_ratio,
                                   seed=seed, classes=classes,
                                   filter_with=out / "baseline" / "best.pt" if b.gan_filter > 1 else None,
                                   candidates=max(1, b.gan_filter), min_prob=b.gan_filter_min_prob)
        arm_dir = out / arm
        metrics_path = arm_dir / "eval" / "metrics.json"
        t0 = time.perf_counter()
        if not metrics_path.exists():
            if (arm_dir / "last.pt").exists() and not (arm_dir / "stats.json").exists():
                import shutil

                shutil.rmtree(arm_dir)   # an interrupted arm restarts from scratch (cheap, and exact)
            cfg = ClassifyConfig(arch=b.arch, augment=policy,
                                 epochs=b.clf_epochs, patience=b.patience, batch_size=b.batch_size,
                                 classes=tuple(classes), steps_per_epoch=steps, seed=seed, quiet=quiet, threads=threads,
                                 ema_decay=b.clf_ema_decay, select_on=b.clf_select_on,
                                 synthetic_weight=b.syn_weight if gan_arm else 1.0,
                                 synthetic_smoothing=b.syn_smoothing if gan_arm else 0.0,
                                 resume=(arm_dir / "stats.json").exists())
            train_classifier(cfg, aug_manifest if gan_arm else manifest, arm_dir)
            evaluate_classifier(arm_dir, manifest, arm_dir / "eval")
        timings.setdefault(arm, []).append(time.perf_counter() - t0)
        results[arm] = json.loads(metrics_path.read_text())
    return results


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
    for arm in ARMS:
        parts = [np.load(seed_dir / f"fold_{k}" / arm / "eval" / "scores.npz") for k in range(folds)]
        keys = np.concatenate([p["keys"] for p in parts])
        assert len(set(keys.tolist())) == len(keys), "an image was tested in two folds"
        m = compute(np.concatenate([p["scores"] for p in parts]), np.concatenate([p["targets"] for p in parts]),
                    classes, multi_label=False)
        m.update(split="out-of-fold test", folds=folds)
        pooled[arm] = m
    return pooled


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _seed_worker(args: tuple) -> tuple[dict, dict]:
    manifest, out, seed, b, classes, steps, quiet, threads = args
    timings: dict[str, list[float]] = {}
    return _run_seed(manifest, out, seed, b, classes, steps, quiet, timings, threads), timings


def run_experiment(manifest: str | Path, out: str | Path, *, seeds: int = 3, budget: str | Budget = "small",
                   quiet: bool = True, min_train: int = 5, minority_fraction: float = 0.5,
                   workers: int | None = None, folds: int = 0) -> dict:
    """Run the study and write its tables, plots and HTML summary; returns the summary dict.

    Minority classes: train count (all rows under cross-validation) below ``minority_fraction`` x the
    largest class's.
    ``workers`` > 1 runs seeds in parallel processes (one CPU thread each: on a small CPU two
    single-threaded seeds beat one two-threaded seed); default ``min(seeds, cpu_count)``. With
    workers > 1 the caller's main module must be import-safe (``if __name__ == "__main__":``).
    ``budget``: a name in :data:`BUDGETS` or a :class:`Budget`. ``folds`` >= 2: K-fold cross-validation
    (see the module docstring) instead of the manifest's split; jobs are (seed, fold) pairs.
    """
    from study.report import aggregate, write_report
    from training.dataset_view import load_view
    from manifests.io import resolve_manifest, write_json_atomic
    from manifests.registry import lookup

    b = budget if isinstance(budget, Budget) else lookup(BUDGETS, budget, "budget")
    if seeds < 1:
        raise UsageError("--seeds must be >= 1")
    if folds == 1 or folds < 0:
        raise UsageError(f"--folds {folds}: use 0 (the manifest's split) or K >= 2")
    manifest = resolve_manifest(manifest)
    out = Path(out)
    classes, counts_table = choose_classes(manifest, min_train=min_train, folds=folds)
    # minority: by train count (by total count under cross-validation, where every row trains somewhere)
    train_counts = {c: counts_table[c]["all" if folds else "train"] for c in classes}
    top = max(train_counts.values())
    minority = [c for c in classes if train_counts[c] < minority_fraction * top]
    started = time.perf_counter()
    if folds:
        parts = [(m, m.parent, seed) for seed in range(seeds)
                 for m in fold_manifests(manifest, out / f"seed_{seed}", folds=folds, seed=seed)]
    else:
        parts = [(manifest, out / f"seed_{seed}", seed) for seed in range(seeds)]
    if workers is None:
        import os

        workers = min(len(parts), os.cpu_count() or 1)
    timings: dict[str, list[float]] = {}
    threads = 1 if workers > 1 and len(parts) > 1 else None
    jobs = []
    for m, d, seed in parts:
        steps = max(1, len(load_view(m, classes=classes).split("train")) // b.batch_size)
        jobs.append((m, d, seed, b, classes, steps, quiet, threads))
    if workers > 1 and len(parts) > 1:
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with ProcessPoolExecutor(min(workers, len(parts)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            done = list(pool.map(_seed_worker, jobs))
    else:
        done = [_seed_worker(j) for j in jobs]
    if folds:
        per_seed = [pool_folds(out / f"seed_{seed}", folds, classes) for seed in range(seeds)]
    else:
        per_seed = [r for r, _ in done]
    for _, t in done:
        for k, v in t.items():
            timings.setdefault(k, []).extend(v)
    agg = aggregate(per_seed, classes=classes, minority=minority, arms=ARMS)
    info = {"manifest": str(manifest), "budget": budget if isinstance(budget, str) else "custom", "workers": workers,
            "budget_settings": dataclasses.asdict(b), "seeds": seeds, "folds": folds or None,
            "evaluation": (f"{folds}-fold patient-grouped cross-validation, out-of-fold test scores pooled per seed; "
                           "seeds repeat it with new folds" if folds else "the manifest's test split"),
            "classes": classes, "minority_classes": minority, "split_counts": {c: counts_table[c] for c in classes},
            "excluded_classes": {c: v for c, v in counts_table.items() if c not in classes and sum(v.values())},
            "steps_per_epoch": jobs[0][5], "wall_seconds": round(time.perf_counter() - started, 1),
            "seconds_per_part": {k: round(sum(v), 1) for k, v in timings.items()}}
    summary = write_report(agg, info, out)
    write_json_atomic(out / "stats.json", summary)
    return summary

"""The augmentation study: does GAN augmentation of rare classes help a classifier? (wires gan + classify)

:func:`run_experiment` runs the five arms declared in :mod:`study.arms` with the same budget (same epochs, same steps per epoch, same
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

Cross-validation (``folds`` = K >= 3), for sets too small for one fixed test split (568 NIH images
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
from study import arms as arms_registry
from study.designs import fold_manifests, imbalanced_manifests, pool_folds

#: the arms' names in run order (declared in :mod:`study.arms`)
ARMS = arms_registry.names()


@dataclasses.dataclass(frozen=True)
class Budget:
    """Everything one study run spends; the defaults are the ``small`` budget. TOML: the
    ``[experiment.budget]`` table overrides the named budget's values (:func:`medharvest.config.resolve`)."""

    clf_epochs: int = 8
    patience: int = 4
    gan_steps: int = 120   # GAN updates, whatever the train size (epochs = ceil(gan_steps / steps per epoch))
    gan_ch: int = 16
    batch_size: int = 32
    size: int = 64                  # image side for the GAN and the classifiers (32, 64, 128)
    device: str | None = None       # None: CUDA when present (then fp16 autocast), else CPU
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
    quality: bool = False           # per seed: generator quality per class + real/synthetic grids (study.quality)
    quality_n: int = 128            # generated images per class for it
    bootstrap: int = 1000           # patient-level bootstrap replicates of the test scores (0: none)


BUDGETS = {
    "small": Budget(),
    "full": Budget(clf_epochs=40, patience=8, gan_steps=1200, gan_ch=16, ema_decay=0.995, gan_filter=4),
    # a GPU (fp16 autocast comes with CUDA): wider nets, larger batches, more GAN updates, generator quality
    "gpu": Budget(clf_epochs=30, patience=8, gan_steps=3000, gan_ch=64, batch_size=128, ema_decay=0.999,
                  gan_filter=4, quality=True, gan_lecam_weight=0.1),
}


def budget_from(name: str | Budget, overrides: dict | None = None) -> Budget:
    """A budget by name (or as given), with ``overrides`` (e.g. a TOML table) applied on top."""
    from manifests.registry import lookup

    b = name if isinstance(name, Budget) else lookup(BUDGETS, name, "budget")
    if not overrides:
        return b
    fields = {f.name for f in dataclasses.fields(Budget)}
    bad = [k for k in overrides if k.replace("-", "_") not in fields]
    if bad:
        from manifests.registry import did_you_mean

        raise UsageError(f"unknown budget key '{bad[0]}'{did_you_mean(bad[0].replace('-', '_'), fields)}")
    return dataclasses.replace(b, **{k.replace("-", "_"): v for k, v in overrides.items()})


@dataclasses.dataclass(frozen=True)
class Job:
    """One training unit of the study: a generator and every arm on one manifest, one seed."""

    manifest: Path          # the manifest this job trains and tests on (a fold's, a seed's subsample's, or the input)
    out: Path
    seed: int
    budget: Budget
    classes: tuple[str, ...]
    steps: int              # steps per epoch (same for every arm: the real train rows / batch size)
    quiet: bool = True
    threads: int | None = None


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
    from gan.sample import sample_balanced
    from manifests.io import merge, read_manifest, rebase_image_paths, resolve_manifest, write_json_atomic, write_manifest

    out = Path(out)
    syn_dir = out / "synthetic"
    factor = candidates if filter_with else 1
    _, need = sample_balanced(checkpoint, manifest, syn_dir, target_ratio=target_ratio, seed=seed, classes=classes,
                              candidates=factor)
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


def _run_job(job: Job, timings: dict) -> dict[str, dict]:
    import json

    from classify.evaluate import evaluate_classifier
    from classify.train import ClassifyConfig, train_classifier
    from gan.train import GanConfig, train_gan

    b, out, seed, classes, manifest = job.budget, job.out, job.seed, list(job.classes), job.manifest
    results: dict[str, dict] = {}
    gan_dir = out / "generator"
    t0 = time.perf_counter()
    if not (gan_dir / "stats.json").exists():
        gcfg = GanConfig(arch=b.gan_arch, size=b.size, epochs=-(-b.gan_steps // job.steps), g_ch=b.gan_ch, d_ch=b.gan_ch,
                         batch_size=b.batch_size, classes=tuple(classes), seed=seed, ema_decay=b.ema_decay,
                         diffaug_strength=b.diffaug_strength, aux_weight=b.gan_aux_weight,
                         ms_weight=b.gan_ms_weight, lecam_weight=b.gan_lecam_weight, lr_g=b.gan_lr_g, lr_d=b.gan_lr_d,
                         quiet=job.quiet, resume=True, threads=job.threads, device=b.device,
                         checkpoint_every=max(1, 200 // job.steps))    # about every 200 updates
        train_gan(gcfg, manifest, gan_dir)
    aug_manifest = out / "gan_aug" / "manifest.parquet"
    timings.setdefault("generator", []).append(time.perf_counter() - t0)
    for name in ARMS:     # declaration order: the arms with synthetic rows after baseline, whose classifier filters
        arm = arms_registry.get(name)
        if arm.synthetic and not aug_manifest.exists():
            gan_augmented_manifest(manifest, gan_dir / "checkpoint.pt", out / "gan_aug", target_ratio=b.target_ratio,
                                   seed=seed, classes=classes,
                                   filter_with=out / arms_registry.reference().name / "best.pt" if b.gan_filter > 1 else None,
                                   candidates=max(1, b.gan_filter), min_prob=b.gan_filter_min_prob)
        arm_dir = out / name
        metrics_path = arm_dir / "eval" / "metrics.json"
        t0 = time.perf_counter()
        if not metrics_path.exists():
            if (arm_dir / "last.pt").exists() and not (arm_dir / "stats.json").exists():
                import shutil

                shutil.rmtree(arm_dir)   # an interrupted arm restarts from scratch (cheap, and exact)
            cfg = ClassifyConfig(arch=b.arch, augment=arm.trainer_policy, size=b.size, device=b.device,
                                 epochs=b.clf_epochs, patience=b.patience, batch_size=b.batch_size,
                                 classes=tuple(classes), steps_per_epoch=job.steps, seed=seed, quiet=job.quiet,
                                 threads=job.threads, ema_decay=b.clf_ema_decay, select_on=b.clf_select_on,
                                 synthetic_weight=b.syn_weight if arm.synthetic else 1.0,
                                 synthetic_smoothing=b.syn_smoothing if arm.synthetic else 0.0,
                                 resume=(arm_dir / "stats.json").exists())
            train_classifier(cfg, aug_manifest if arm.synthetic else manifest, arm_dir)
            evaluate_classifier(arm_dir, manifest, arm_dir / "eval")
        timings.setdefault(name, []).append(time.perf_counter() - t0)
        results[name] = json.loads(metrics_path.read_text())
    if b.quality and not (gan_dir / "quality" / "quality.json").exists():
        from study.quality import generator_quality

        t0 = time.perf_counter()
        generator_quality(gan_dir / "checkpoint.pt", manifest, gan_dir / "quality",
                          classifier=out / arms_registry.reference().name / "best.pt", n_per_class=b.quality_n, seed=seed)
        timings.setdefault("quality", []).append(time.perf_counter() - t0)
    return results


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _job_worker(job: Job) -> tuple[dict, dict]:
    timings: dict[str, list[float]] = {}
    return _run_job(job, timings), timings


def _patients(manifest: Path) -> dict[str, str]:
    from training.dataset_view import load_view

    v = load_view(manifest)
    return {k: str(p or k) for k, p in zip(v.keys, v.patients)}


def _test_scores(out: Path, seeds: int, folds: int) -> dict[str, list[dict]]:
    """{arm: [{"keys", "scores", "targets"} per seed]}: each seed's test scores (pooled over folds)."""
    import numpy as np

    per_arm: dict[str, list[dict]] = {}
    for arm in ARMS:
        for seed in range(seeds):
            dirs = ([out / f"seed_{seed}" / f"fold_{k}" for k in range(folds)] if folds else [out / f"seed_{seed}"])
            parts = [np.load(d / arm / "eval" / "scores.npz") for d in dirs]
            per_arm.setdefault(arm, []).append({k: np.concatenate([p[k] for p in parts])
                                                for k in ("keys", "scores", "targets")})
    return per_arm


def run_experiment(manifest: str | Path, out: str | Path, *, seeds: int = 3, budget: str | Budget = "small",
                   quiet: bool = True, min_train: int = 5, minority_fraction: float = 0.5,
                   workers: int | None = None, folds: int = 0, imbalance: tuple[str, float] | None = None) -> dict:
    """Run the study and write its tables, plots and HTML summary; returns the summary dict.

    Minority classes: train count (all rows under cross-validation) below ``minority_fraction`` x the
    largest class's.
    ``workers`` > 1 runs jobs in parallel processes (one CPU thread each: on a small CPU two
    single-threaded seeds beat one two-threaded seed; on a GPU they share the device); default
    ``min(jobs, cpu_count)``. With workers > 1 the caller's main module must be import-safe
    (``if __name__ == "__main__":``).
    ``budget``: a name in :data:`BUDGETS` or a :class:`Budget`. ``folds`` >= 3: K-fold cross-validation
    (see the module docstring) instead of the manifest's split; jobs are (seed, fold) pairs.
    ``imbalance`` = (class, ratio): each seed keeps only ``ratio`` of the class's train rows
    (:func:`imbalanced_manifests`); that class is the minority.
    """
    from study.report import aggregate, write_report
    from training.dataset_view import load_view
    from manifests.io import resolve_manifest, write_json_atomic

    b = budget_from(budget)
    if seeds < 1:
        raise UsageError("--seeds must be >= 1")
    if folds in (1, 2) or folds < 0:
        # fold k is the test set, fold k+1 the val set, the rest train: with 2 folds nothing is left to train on
        raise UsageError(f"--folds {folds}: use 0 (the manifest's split) or K >= 3 "
                         "(fold k tests, fold k+1 validates, the other K-2 train)")
    if folds and imbalance:
        raise UsageError("--imbalance works on the manifest's split, not with --folds")
    manifest = resolve_manifest(manifest)
    out = Path(out)
    started = time.perf_counter()
    if imbalance:
        seed_manifests = imbalanced_manifests(manifest, out, seeds=seeds, cls=imbalance[0], ratio=imbalance[1])
        parts = [(m, m.parent, seed) for seed, m in enumerate(seed_manifests)]
    elif folds:
        parts = [(m, m.parent, seed) for seed in range(seeds)
                 for m in fold_manifests(manifest, out / f"seed_{seed}", folds=folds, seed=seed)]
    else:
        parts = [(manifest, out / f"seed_{seed}", seed) for seed in range(seeds)]
    classes, counts_table = choose_classes(parts[0][0], min_train=min_train, folds=folds)
    # minority: by train count (by total count under cross-validation, where every row trains somewhere)
    train_counts = {c: counts_table[c]["all" if folds else "train"] for c in classes}
    top = max(train_counts.values())
    minority = ([imbalance[0]] if imbalance else [c for c in classes if train_counts[c] < minority_fraction * top])
    if workers is None:
        import os

        workers = min(len(parts), os.cpu_count() or 1)
    timings: dict[str, list[float]] = {}
    threads = 1 if workers > 1 and len(parts) > 1 else None
    jobs = [Job(m, d, seed, b, tuple(classes), max(1, len(load_view(m, classes=classes).split("train")) // b.batch_size),
                quiet, threads) for m, d, seed in parts]
    if workers > 1 and len(parts) > 1:
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with ProcessPoolExecutor(min(workers, len(parts)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            done = list(pool.map(_job_worker, jobs))
    else:
        done = [_job_worker(j) for j in jobs]
    if folds:
        per_seed = [pool_folds(out / f"seed_{seed}", folds, classes) for seed in range(seeds)]
    else:
        per_seed = [r for r, _ in done]
    for _, t in done:
        for k, v in t.items():
            timings.setdefault(k, []).extend(v)
    agg = aggregate(per_seed, classes=classes, minority=minority, arms=ARMS)
    if b.bootstrap:
        from study.bootstrap import bootstrap

        t0 = time.perf_counter()
        ref = arms_registry.reference().name
        pairs = [(a, ref) for a in ARMS if a != ref] + [(a, c.other) for a in ARMS
                                                        for c in arms_registry.get(a).compare_with]
        agg["bootstrap"] = bootstrap(_test_scores(out, seeds, folds), _patients(manifest), classes, minority,
                                     comparisons=pairs, n_boot=b.bootstrap, seed=0)
        timings["bootstrap"] = [time.perf_counter() - t0]
    quality = {}
    if b.quality:
        import json

        for seed in range(seeds):
            q = (parts[seed * (folds or 1)][1] / "generator" / "quality" / "quality.json")
            if q.exists():
                quality[seed] = {**json.loads(q.read_text()), "grids_dir": str(q.parent / "grids")}
    info = {"manifest": str(manifest), "budget": budget if isinstance(budget, str) else "custom", "workers": workers,
            "budget_settings": dataclasses.asdict(b), "seeds": seeds, "folds": folds or None,
            "imbalance": {"class": imbalance[0], "ratio": imbalance[1]} if imbalance else None,
            "evaluation": (f"{folds}-fold patient-grouped cross-validation, out-of-fold test scores pooled per seed; "
                           "seeds repeat it with new folds" if folds else "the manifest's test split"),
            "classes": classes, "minority_classes": minority, "split_counts": {c: counts_table[c] for c in classes},
            "excluded_classes": {c: v for c, v in counts_table.items() if c not in classes and sum(v.values())},
            "steps_per_epoch": jobs[0].steps, "wall_seconds": round(time.perf_counter() - started, 1),
            "seconds_per_part": {k: round(sum(v), 1) for k, v in timings.items()}}
    summary = write_report(agg, info, out, quality=quality)
    write_json_atomic(out / "stats.json", summary)
    return summary

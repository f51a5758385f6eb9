"""`medharvest experiment`: the augmentation study (the arms of study.arms, same budget, over seeds).

Settings: defaults < ``--config`` TOML ``[experiment]`` < flags; the budget is a named preset
(``--budget``) whose values ``[experiment.budget_settings]`` and the budget flags override, through
the same :func:`medharvest.config.resolve` as every other stage.
"""

from __future__ import annotations

import dataclasses

from medharvest.cli import add_common


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    seeds: int = 3
    budget: str = "small"
    min_train: int = 5
    folds: int = 0
    workers: int | None = None
    imbalance: str | None = None
    ratios: str = "0.01,0.05,0.2"


BUDGET_FLAGS = ("size", "device", "gan_steps", "clf_epochs", "batch_size")


def register(sub) -> None:
    from study.arms import names

    p = sub.add_parser("experiment", help=f"the augmentation study: {len(names())} arms, same budget, over seeds",
                       description="Arms: " + ", ".join(names()) + ". Per class: score with its support; "
                                   "patient-level bootstrap intervals; with --imbalance, a controlled-imbalance sweep.",
                       epilog="example: medharvest experiment kermany/manifest --out sweep --imbalance PNEUMONIA "
                              "--ratios 0.01,0.05,0.2 --budget gpu")
    p.add_argument("manifest", help="curated manifest with a patient-level train/val/test split")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, default=None, help="default 3")
    p.add_argument("--budget", default=None, help="small (demo, minutes; default) | full | gpu (AMP, wide nets, "
                                                  "batch 128, generator quality)")
    p.add_argument("--min-train", type=int, default=None, help="classes need this many train rows (and val/test rows)")
    p.add_argument("--folds", type=int, default=None,
                   help="K >= 3: patient-grouped K-fold cross-validation instead of the manifest's split; out-of-fold "
                        "test scores are pooled per seed (for small sets; K x the compute)")
    p.add_argument("--workers", type=int, default=None,
                   help="jobs run in parallel processes, 1 CPU thread each (default: min(jobs, cores))")
    p.add_argument("--imbalance", metavar="CLASS", default=None,
                   help="make CLASS rare on purpose: keep only --ratios of its train rows (whole patients; the rest "
                        "never seen), the study at each ratio, then a sweep plot")
    p.add_argument("--ratios", default=None, help="with --imbalance: comma-separated fractions (default 0.01,0.05,0.2)")
    p.add_argument("--size", type=int, help="budget: image side (32, 64, 128)")
    p.add_argument("--device", help="budget: torch device (default: cuda when present, else cpu)")
    p.add_argument("--gan-steps", type=int, help="budget: GAN updates")
    p.add_argument("--clf-epochs", type=int, help="budget: classifier epochs")
    p.add_argument("--batch-size", type=int, help="budget: batch size (GAN and classifiers)")
    add_common(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from manifests.registry import lookup
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json
    from study.runner import BUDGETS, Budget, run_experiment

    toml = load_toml(args.config, "experiment")
    budget_toml = toml.pop("budget_settings", {})
    cfg = resolve(ExperimentConfig, toml=toml, flags={k: getattr(args, k) for k in (
        "seeds", "budget", "min_train", "folds", "workers", "imbalance", "ratios")})
    budget = resolve(Budget, base=lookup(BUDGETS, cfg.budget, "budget"), toml=budget_toml,
                     flags={k: getattr(args, k) for k in BUDGET_FLAGS})
    kw = dict(seeds=cfg.seeds, budget=budget, quiet=args.quiet, min_train=cfg.min_train, workers=cfg.workers)
    settings = {**as_dict(cfg), "budget_settings": as_dict(budget)}
    if cfg.imbalance:
        from study.sweep import parse_ratios, run_sweep

        ratios = parse_ratios(cfg.ratios)
        if cfg.folds:
            from manifests.errors import UsageError

            raise UsageError("--imbalance works on the manifest's split, not with --folds")
        summary = run_sweep(args.manifest, args.out, cls=cfg.imbalance, ratios=ratios, **kw)
        write_run_json(args.out, "experiment", settings, summary)
        summary_table("experiment (imbalance sweep)", {"table": summary["table_md"], "html": summary["html"],
                                                       "plot": summary["plot"]}, quiet=args.quiet)
        return 0
    summary = run_experiment(args.manifest, args.out, folds=cfg.folds, **kw)
    write_run_json(args.out, "experiment", settings, summary)
    summary_table("experiment", {"verdict": summary["verdict"], "ci_verdict": summary.get("ci_verdict"),
                                 "table": summary["table_md"], "html": summary["html"],
                                 "wall_seconds": summary["wall_seconds"]}, quiet=args.quiet)
    return 0

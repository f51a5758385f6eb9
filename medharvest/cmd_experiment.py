"""`medharvest experiment`: baseline vs classic vs oversampling vs GAN augmentation, over seeds."""

from __future__ import annotations

from medharvest.cli import add_common


def register(sub) -> None:
    p = sub.add_parser("experiment", help="the augmentation study: every arm on the same budget, mean ± std over seeds")
    p.add_argument("manifest", help="curated manifest with a patient-level train/val/test split")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", default="small", help="small (demo, minutes) | full")
    p.add_argument("--min-train", type=int, default=5, help="classes need this many train rows (and val/test rows)")
    p.add_argument("--folds", type=int, default=0,
                   help="K >= 2: patient-grouped K-fold cross-validation instead of the manifest's split; out-of-fold "
                        "test scores are pooled per seed (for small sets; K x the compute)")
    p.add_argument("--workers", type=int, default=None,
                   help="seeds run in parallel processes, 1 CPU thread each (default: min(seeds, cores))")
    add_common(p, config=False)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from study.runner import run_experiment
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    summary = run_experiment(args.manifest, args.out, seeds=args.seeds, budget=args.budget, quiet=args.quiet,
                             min_train=args.min_train, workers=args.workers, folds=args.folds)
    write_run_json(args.out, "experiment", {"seeds": args.seeds, "budget": args.budget, "min_train": args.min_train,
                                            "folds": args.folds}, summary)
    summary_table("experiment", {"verdict": summary["verdict"], "table": summary["table_md"], "html": summary["html"],
                                 "wall_seconds": summary["wall_seconds"]}, quiet=args.quiet)
    return 0

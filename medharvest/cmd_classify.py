"""`medharvest classify train|evaluate`: a chest X-ray classifier on a manifest."""

from __future__ import annotations

from pathlib import Path

from medharvest.cli import add_common


def register(sub) -> None:
    p = sub.add_parser("classify", help="train / evaluate a classifier on a manifest")
    csub = p.add_subparsers(dest="classify_command", metavar="ACTION", required=True)

    t = csub.add_parser("train", help="train on the train split, early-stop on val")
    t.add_argument("manifest")
    t.add_argument("--out", required=True)
    t.add_argument("--arch", help="small-cnn (default), small-cnn-wide, resnet18, densenet121")
    t.add_argument("--augment", default=None,
                   help="none | classic | oversample | gan:CHECKPOINT (samples to balance, merges, trains); "
                        "see classify.policies")
    t.add_argument("--target-ratio", type=float, default=1.0, help="with gan:CHECKPOINT: balance to R x the largest class")
    t.add_argument("--multi-label", action="store_true", default=None)
    t.add_argument("--epochs", type=int)
    t.add_argument("--patience", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--class-weighted", action="store_true", default=None)
    t.add_argument("--synthetic-weight", type=float, help="loss weight of synthetic train rows (default 1; 0 ignores them)")
    t.add_argument("--synthetic-smoothing", type=float,
                   help="label smoothing of synthetic rows, 0-1 (1: uniform labels, LSRO; default 0)")
    t.add_argument("--classes", nargs="+")
    t.add_argument("--pretrained", metavar="PATH", help="local state-dict file (never downloaded)")
    t.add_argument("--seed", type=int)
    t.add_argument("--resume", action="store_true", default=None)
    t.add_argument("--device")
    add_common(t)
    t.set_defaults(func=_train)

    e = csub.add_parser("evaluate", help="per-class AUROC/precision/recall/F1, confusion matrix, ROC PNG")
    e.add_argument("checkpoint", help="best.pt or the training directory")
    e.add_argument("manifest")
    e.add_argument("--out", required=True)
    e.add_argument("--split", default="test", choices=("train", "val", "test"))
    add_common(e, config=False)
    e.set_defaults(func=_evaluate)


def _train(args) -> int:
    from classify.train import ClassifyConfig, train_classifier
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    from classify.policies import parse

    manifest = args.manifest
    augment = args.augment
    if augment:
        pol, checkpoint = parse(augment)
        if pol.synthetic_rows:       # rows from the generator first, then the trainer sees real + synthetic rows
            from study.runner import gan_augmented_manifest

            manifest = gan_augmented_manifest(args.manifest, checkpoint, Path(args.out) / "augmented",
                                              target_ratio=args.target_ratio)
            augment = "none"
    flags = {k: getattr(args, k) for k in ("arch", "multi_label", "epochs", "patience", "batch_size", "lr",
                                          "class_weighted", "synthetic_weight", "synthetic_smoothing", "pretrained",
                                          "seed", "resume", "device", "quiet")}
    flags.update(augment=augment, classes=tuple(args.classes) if args.classes else None)
    cfg = resolve(ClassifyConfig, toml=load_toml(args.config, "classify"), flags=flags)
    summary = train_classifier(cfg, manifest, args.out)
    write_run_json(args.out, "classify train", {**as_dict(cfg), "augment_flag": args.augment}, summary)
    summary_table("classify train", summary, quiet=args.quiet)
    return 0


def _evaluate(args) -> int:
    from classify.evaluate import evaluate_classifier
    from medharvest.output import summary_table

    m = evaluate_classifier(args.checkpoint, args.manifest, args.out, split=args.split)
    rows = {"n": m["n"], "macro_auroc": m["macro"]["auroc"], "macro_f1": m["macro"]["f1"],
            "balanced_accuracy": m["balanced_accuracy"]}
    rows.update({f"auroc[{c}]": v["auroc"] for c, v in m["per_class"].items()})
    summary_table("classify evaluate", rows, quiet=args.quiet)
    return 0

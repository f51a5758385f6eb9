"""`medharvest gan train|sample|eval`: class-conditional GAN on a manifest's train split."""

from __future__ import annotations

import argparse

from medharvest.cli import add_common


def register(sub) -> None:
    p = sub.add_parser("gan", help="train a class-conditional GAN, sample synthetic records, score them")
    gsub = p.add_subparsers(dest="gan_command", metavar="ACTION", required=True)

    t = gsub.add_parser("train", help="train on the train split of MANIFEST (checkpoints, loss log, sample grids)")
    t.add_argument("manifest", help="manifest.parquet or its directory (needs a train/val/test split)")
    t.add_argument("--out", required=True, help="output directory")
    t.add_argument("--classes", nargs="+", help="findings to model (default: every NIH-15 finding present)")
    t.add_argument("--size", type=int, choices=(32, 64, 128))
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--arch", help="GAN architecture: dcgan (default) or resnet")
    t.add_argument("--seed", type=int)
    t.add_argument("--balanced", action=argparse.BooleanOptionalAction, default=None,
                   help="class-balanced sampling of real images (default on)")
    t.add_argument("--diffaug-strength", type=float)
    t.add_argument("--ema-decay", type=float)
    t.add_argument("--aux-weight", type=float,
                   help="weight of the AC-GAN class term (D class head on real rows; G must match it)")
    t.add_argument("--mbstd", action=argparse.BooleanOptionalAction, default=None,
                   help="minibatch-std layer in D (against mode collapse)")
    t.add_argument("--ms-weight", type=float, help="weight of the mode-seeking term (against mode collapse)")
    t.add_argument("--lecam-weight", type=float, help="weight of the LeCam regulariser (limited data; 0 = off)")
    t.add_argument("--resume", action="store_true", default=None, help="continue from OUT/checkpoint.pt")
    t.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    add_common(t)
    t.set_defaults(func=_train)

    s = gsub.add_parser("sample", help="write synthetic PNGs + a manifest of synthetic=true records")
    s.add_argument("checkpoint", help="checkpoint.pt or a training directory")
    s.add_argument("--out", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--n-per-class", type=int, help="images per class")
    g.add_argument("--balance", metavar="MANIFEST", help="top up each class of MANIFEST's train split")
    s.add_argument("--target-ratio", type=float, default=1.0, help="with --balance: reach R x the largest class")
    s.add_argument("--seed", type=int, default=0)
    add_common(s, config=False)
    s.set_defaults(func=_sample)

    e = gsub.add_parser("eval", help="per-class FID, KID, precision/recall, memorisation check")
    e.add_argument("checkpoint")
    e.add_argument("manifest", help="the manifest the GAN was trained on (its train split is the reference)")
    e.add_argument("--out", required=True)
    e.add_argument("--n-per-class", type=int, default=200)
    e.add_argument("--memorised-threshold", type=float, default=0.03, help="RMS pixel distance in [0,1]")
    e.add_argument("--seed", type=int, default=0)
    add_common(e, config=False)
    e.set_defaults(func=_eval)


def _train(args) -> int:
    from gan.train import GanConfig, train_gan
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    flags = {k: getattr(args, k) for k in ("size", "epochs", "batch_size", "arch", "seed", "balanced",
                                          "diffaug_strength", "ema_decay", "aux_weight", "mbstd", "ms_weight", "lecam_weight", "resume", "device", "quiet")}
    flags["classes"] = tuple(args.classes) if args.classes else None
    cfg = resolve(GanConfig, toml=load_toml(args.config, "gan"), flags=flags)
    summary = train_gan(cfg, args.manifest, args.out)
    write_run_json(args.out, "gan train", as_dict(cfg), summary)
    summary_table("gan train", summary, quiet=args.quiet)
    return 0


def _sample(args) -> int:
    from gan.sample import sample_balanced, sample_to_manifest
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    if args.balance:
        summary, _ = sample_balanced(args.checkpoint, args.balance, args.out, target_ratio=args.target_ratio,
                                     seed=args.seed)
    else:
        summary = sample_to_manifest(args.checkpoint, args.out, n_per_class=args.n_per_class, seed=args.seed)
    write_run_json(args.out, "gan sample", {"checkpoint": args.checkpoint, "balance": args.balance,
                                            "target_ratio": args.target_ratio, "seed": args.seed}, summary)
    summary_table("gan sample", summary, quiet=args.quiet)
    return 0


def _eval(args) -> int:
    from gan.evaluate import evaluate_generator
    from medharvest.output import summary_table

    res = evaluate_generator(args.checkpoint, args.manifest, args.out, n_per_class=args.n_per_class,
                             seed=args.seed, memorised_threshold=args.memorised_threshold)
    summary_table("gan eval", {"feature_extractor": res["feature_extractor"], **res["mean"],
                               "memorised_total": res["memorised_total"]}, quiet=args.quiet)
    return 0

"""``medharvest demo``: the main job end to end on the embedded sample dataset.

sample -> curate run -> manifest split -> validate + stats -> HTML datasheet -> small augmentation
study (baseline / classic / oversample / GAN). Each stage writes into its own folder under ``--out``
and resumes on re-run, so an interrupted demo picks up where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    n: int = 400
    seed: int = 0
    size: int = 256
    ocr: bool = True
    study: bool = True
    pairs: bool = True            # planted image-text pairs: caption + consistency check, recall / false flags
    seeds: int = 2
    budget: str = "small"

    def __post_init__(self):
        if self.budget not in ("small", "full"):
            from manifests.registry import did_you_mean

            raise ValueError(f"unknown budget '{self.budget}'{did_you_mean(self.budget, ('small', 'full'))}")
        if self.seeds < 1:
            raise ValueError("--seeds must be at least 1")


def register(sub) -> None:
    from medharvest.cli import add_common

    p = sub.add_parser(
        "demo", help="run the whole pipeline on the embedded sample dataset",
        description=__doc__.split("\n\n")[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="medharvest-demo", metavar="DIR", help="output directory")
    p.add_argument("--n", type=int, default=None, help="sample size (default 400)")
    p.add_argument("--seed", type=int, default=None, help="seed of the sample and the split (default 0)")
    p.add_argument("--no-ocr", dest="ocr", action="store_const", const=False, default=None,
                   help="skip the burned-in text scan")
    p.add_argument("--no-study", dest="study", action="store_const", const=False, default=None,
                   help="stop after the manifest and its report")
    p.add_argument("--no-pairs", dest="pairs", action="store_const", const=False, default=None,
                   help="skip the image-text step (planted pairs, captions, consistency check)")
    p.add_argument("--seeds", type=int, default=None, help="seeds of the augmentation study (default 2)")
    p.add_argument("--budget", default=None, help="study budget: small | full (default small)")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from medharvest.config import load_toml, resolve
    from medharvest.demo import run_demo
    from medharvest.output import summary_table

    cfg = resolve(DemoConfig, toml=load_toml(args.config, "demo"), flags={
        "n": args.n, "seed": args.seed, "ocr": args.ocr, "study": args.study, "pairs": args.pairs, "seeds": args.seeds, "budget": args.budget,
    })
    summary = run_demo(cfg, args.out, quiet=args.quiet)
    summary_table(f"demo -> {args.out}", summary, quiet=args.quiet)
    return 0 if summary.get("valid", True) else 1

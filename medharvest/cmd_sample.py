"""`medharvest sample`: generate the embedded, licence-free sample dataset (a raw store)."""

from __future__ import annotations


def register(sub) -> None:
    from medharvest.cli import add_common

    p = sub.add_parser(
        "sample",
        help="generate the synthetic chest X-ray sample dataset (raw store)",
        description=(
            "Generate a deterministic, licence-free (CC0) chest-radiograph-like dataset with paired reports: "
            "7 findings + No Finding at a ChestX-ray14-like imbalance, several studies per patient, some DICOM "
            "files with header identifiers, some images with burned-in identifiers, planted exact and near "
            "duplicates. Writes DIR/raw/sample/{files/,items.jsonl,stats.json} and ground_truth.jsonl (for "
            "scoring only). The same --seed gives byte-identical output; a re-run resumes."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="data directory (the store goes to DIR/raw/sample)")
    p.add_argument("--n", type=int, default=None, help="number of items, duplicates included (default 400)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--size", type=int, default=None, help="image width and height in pixels (default 256)")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from crawlers.sample.generator import SampleConfig, generate
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import progress, summary_table
    from medharvest.runinfo import write_run_json

    cfg = resolve(SampleConfig, toml=load_toml(args.config, "sample"),
                  flags={"n": args.n, "seed": args.seed, "size": args.size})
    start = time.perf_counter()
    summary = generate(cfg, args.out, progress=lambda it, total: progress(it, total=total, desc="sample", quiet=args.quiet))
    seconds = time.perf_counter() - start
    write_run_json(f"{args.out}/raw/sample", "sample", as_dict(cfg), {**summary, "seconds": round(seconds, 2)})
    summary_table(f"sample -> {args.out}/raw/sample", {
        "items": summary["items"], "status": summary["status"], "classes": summary["classes"],
        "dicom": summary["dicom"], "burned_in": summary["burned_in"],
        "duplicates": summary["exact_duplicates"] + summary["near_duplicates"],
        "images/s": round(summary["items"] / seconds, 1),
    }, quiet=args.quiet)
    return 0

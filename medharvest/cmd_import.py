"""`medharvest import NAME ROOT --out DIR`: turn a dataset you already hold into a raw store."""

from __future__ import annotations


def register(sub) -> None:
    from medharvest.cli import add_common

    p = sub.add_parser(
        "import",
        help="import a local copy of a public dataset (see 'import --list')",
        description=(
            "Read a dataset's own label/report/split files under ROOT and write DIR/raw/NAME/items.jsonl: one item "
            "per image, referring to your image file in place (nothing is copied), with the dataset's labels "
            "(four states), patient and study ids, view, official split and licence. Rows with problems are kept "
            "with status=error; a re-run resumes. 'medharvest import --list' shows the importers and their "
            "licences (read from the importer modules, so this help stays instant)."
        ),
        epilog="example: medharvest import chestxray14 ~/data/ChestX-ray14 --out data",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="importer (see --list)")
    p.add_argument("root", nargs="?", metavar="ROOT", help="folder holding the dataset (searched recursively)")
    p.add_argument("--list", action="store_true", help="list the importers and their licences")
    p.add_argument("--out", metavar="DIR", help="data directory (the store goes to DIR/raw/NAME)")
    add_common(p, config=False)
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from crawlers import importers
    from manifests.errors import UsageError
    from medharvest.output import progress, summary_table
    from medharvest.runinfo import write_run_json

    if args.list:
        summary_table("importers", importers.listing(), quiet=args.quiet)
        return 0
    if not (args.name and args.root and args.out):
        raise UsageError("import needs NAME ROOT --out DIR (or --list)")
    module = importers.get(args.name)
    start = time.perf_counter()
    summary = importers.run(args.name, args.root, args.out,
                            progress=lambda it, total: progress(it, total=total, desc=args.name, quiet=args.quiet))
    seconds = round(time.perf_counter() - start, 2)
    write_run_json(f"{args.out}/raw/{module.SOURCE}", f"import {args.name}", {"name": args.name, "root": args.root},
                   {**summary, "seconds": seconds})
    summary_table(f"import {args.name} -> {args.out}/raw/{module.SOURCE}",
                  {**summary, "seconds": seconds}, quiet=args.quiet)
    return 0

"""``medharvest manifest …``: validate, stats, split, export, merge and report a manifest.

Each sub-command is parse → config → one call into :mod:`manifests` → summary. pyarrow and the
manifest modules are imported inside the command functions so ``medharvest --help`` stays instant.
Exit codes: 0 ok, 1 the manifest is invalid / the stage failed, 2 usage (unknown column, value,
format; a "did you mean" names the closest).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medharvest.cli import add_common

#: Problems printed by ``validate`` before the per-kind counts (all of them go to --report).
SHOW_PROBLEMS = 40


def register(sub) -> None:
    p = sub.add_parser("manifest", help="validate, split, describe and export a manifest")
    msub = p.add_subparsers(dest="manifest_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    v = msub.add_parser("validate", help="check schema, provenance, keys, labels, splits and image files")
    v.add_argument("manifest", help="manifest.parquet or the directory holding it")
    v.add_argument("--no-files", action="store_true", help="do not open image files (no exists/sha256 check)")
    v.add_argument("--report", metavar="FILE", help="write every problem as CSV (.csv) or JSON")
    add_common(v, config=False)
    v.set_defaults(func=cmd_validate)

    s = msub.add_parser("stats", help="counts per source, status, label, split, licence, modality/view")
    s.add_argument("manifest")
    s.add_argument("--json", metavar="FILE", help="also write the stats as JSON")
    add_common(s, config=False)
    s.set_defaults(func=cmd_stats)

    sp = msub.add_parser("split", help="patient-grouped, label-stratified, seeded train/val/test split")
    sp.add_argument("manifest")
    sp.add_argument("--out", required=True, help="output directory (or .parquet file)")
    sp.add_argument("--seed", type=int)
    sp.add_argument("--ratios", type=_ratios, help="train,val,test fractions (default 0.7,0.15,0.15)")
    sp.add_argument("--group-key", help="column that groups rows (default patient_id)")
    sp.add_argument("--stratify", action=argparse.BooleanOptionalAction, default=None,
                    help="stratify by each group's rarest positive finding (default on)")
    sp.add_argument("--keep-official", action="store_true", default=None,
                    help="keep official val/test splits; official-train rows stay in train or val")
    add_common(sp)
    sp.set_defaults(func=cmd_split)

    from manifests.ops.export import formats

    fmts = formats()
    e = msub.add_parser("export", help=f"export (a filtered subset) as {', '.join(sorted(fmts))}",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="formats:\n" + "\n".join(f"  {n:<11} {fmts[n].summary}" for n in sorted(fmts)))
    e.add_argument("manifest")
    files = ", ".join(n for n, c in fmts.items() if not c.directory)
    e.add_argument("--out", required=True, metavar="PATH", help=f"output file ({files}) or directory (the others)")
    e.add_argument("--format", help=f"{', '.join(sorted(fmts))} (default: the --out suffix)")
    e.add_argument("--filter", "--where", dest="filter", metavar="EXPR",
                   help="e.g. \"split == 'train' and label('Effusion') == 'positive'\"")
    e.add_argument("--name", help="dataset name in cards and metadata (default: the manifest's directory name)")
    e.add_argument("--shard-size", type=int, default=1000, metavar="N",
                   help="rows per shard for hf and webdataset (default 1000)")
    add_common(e, config=False)
    e.set_defaults(func=cmd_export)

    m = msub.add_parser("merge", help="merge manifests, de-duplicated by key (conflicts to conflicts.json)")
    m.add_argument("manifests", nargs="+")
    m.add_argument("--out", required=True, help="output directory (or .parquet file)")
    add_common(m, config=False)
    m.set_defaults(func=cmd_merge)

    r = msub.add_parser("report", help="a self-contained HTML datasheet of the manifest")
    r.add_argument("manifest")
    r.add_argument("--out", required=True, metavar="HTML")
    r.add_argument("--per-class", type=int, default=6, help="thumbnails per finding (default 6)")
    r.add_argument("--seed", type=int, default=0, help="seed of the thumbnail sample")
    add_common(r, config=False)
    r.set_defaults(func=cmd_report)


def _ratios(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"ratios '{text}' must be numbers like 0.7,0.15,0.15") from None


def _out_dir(out: str) -> tuple[Path, Path]:
    """(directory, manifest path) for an ``--out`` that is a directory or a .parquet file."""
    p = Path(out)
    if p.suffix == ".parquet":
        return p.parent, p
    return p, p / "manifest.parquet"


def _not_input(inputs: list[Path], out: Path) -> None:
    from manifests.errors import UsageError

    for i in inputs:
        if out.resolve() == i.resolve():
            raise UsageError(f"--out '{out}' is an input manifest; a stage never edits its input")


def _print_problems(problems, limit: int) -> None:
    rows = problems.slice(0, limit).to_pylist()
    if not rows:
        return
    cols = ("key", "column", "problem", "detail")
    width = {c: min(max(len(c), *(len(str(r[c] or "")) for r in rows)), 60) for c in cols}
    print("  ".join(c.ljust(width[c]) for c in cols))
    print("  ".join("-" * width[c] for c in cols))
    for r in rows:
        print("  ".join(str(r[c] or "")[: width[c]].ljust(width[c]) for c in cols))
    if problems.num_rows > limit:
        print(f"... {problems.num_rows - limit} more (use --report FILE for all)")


def cmd_validate(args) -> int:
    from manifests.ops.validate import validate_manifest
    from medharvest.output import summary_table

    report = validate_manifest(args.manifest, files=not args.no_files)
    if not args.quiet:
        _print_problems(report.problems, SHOW_PROBLEMS)
    if args.report:
        report.write(args.report)
    summary = report.summary()
    summary_table("manifest validate", {**{k: v for k, v in summary.items() if k != "counts"}, **summary["counts"]},
                  quiet=args.quiet)
    return 0 if report.ok else 1


def cmd_stats(args) -> int:
    from manifests.io import write_json_atomic
    from manifests.ops.stats import compute_file
    from medharvest.output import summary_table

    stats = compute_file(args.manifest)
    if args.json:
        write_json_atomic(args.json, stats)
    keys = ("rows", "patients", "by_source", "by_status", "by_split", "by_license", "by_modality", "by_view",
            "by_synthetic")
    rows = {k: stats[k] for k in keys if k in stats}
    rows["positives"] = {f: s.get("positive", 0) for f, s in stats.get("labels", {}).items()}
    summary_table("manifest stats", rows, quiet=args.quiet)
    return 0


def cmd_split(args) -> int:
    from manifests.io import resolve_manifest, write_json_atomic
    from manifests.ops.split import SplitConfig, split_file
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    cfg = resolve(SplitConfig, toml=load_toml(args.config, "manifest.split"),
                  flags={"seed": args.seed, "ratios": args.ratios, "group_key": args.group_key,
                         "stratify": args.stratify, "keep_official": args.keep_official})
    src = resolve_manifest(args.manifest)
    out_dir, out_path = _out_dir(args.out)
    _not_input([src], out_path)
    path, summary = split_file(src, out_path, cfg)
    write_json_atomic(out_dir / "split_stats.json", {**summary, "input": str(src), "output": str(path)})
    write_run_json(out_dir, "manifest split", as_dict(cfg), {k: v for k, v in summary.items() if k != "split_labels"})
    summary_table("manifest split", {k: summary[k] for k in ("rows", "groups", "components", "rows_per_split",
                                                             "groups_per_split", "group_fallback", "seed",
                                                             "largest_component_rows", "warnings")},
                  quiet=args.quiet)
    for w in summary["warnings"]:
        print(f"medharvest: warning: {w}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from manifests.io import read_manifest, read_meta, resolve_manifest
    from manifests.ops.export import ExportContext, export, format_for
    from manifests.ops.filter import filter_table
    from medharvest.output import summary_table

    fmt = format_for(args.out, args.format)
    src = resolve_manifest(args.manifest)
    out = Path(args.out)
    _not_input([src], out / "manifest.parquet" if fmt.name == "parquet" and out.suffix != ".parquet" else out)
    if fmt.directory and out.resolve() == src.parent.resolve():
        from manifests.errors import UsageError

        raise UsageError(f"--out '{out}' is the manifest's own directory; "
                         f"give the {fmt.name} export a directory of its own")
    ctx = ExportContext(images_root=src.parent, name=args.name or src.parent.resolve().name, meta=read_meta(src),
                        shard_size=args.shard_size)
    table = read_manifest(src)
    sub = filter_table(table, args.filter)
    summary = export(sub, out, fmt.name, ctx=ctx)
    summary_table("manifest export", {"rows_in": table.num_rows, "rows_selected": sub.num_rows, **summary},
                  quiet=args.quiet)
    return 0


def cmd_merge(args) -> int:
    from manifests.io import resolve_manifest, write_json_atomic
    from manifests.ops.filter import merge_files
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    srcs = [resolve_manifest(p) for p in args.manifests]
    out_dir, out_path = _out_dir(args.out)
    _not_input(srcs, out_path)
    path, conflicts, summary = merge_files(srcs, out_path)
    write_json_atomic(out_dir / "conflicts.json", conflicts)
    write_run_json(out_dir, "manifest merge", {"inputs": [str(s) for s in srcs]}, summary)
    summary_table("manifest merge", {**summary, "out": str(path)}, quiet=args.quiet)
    return 0


def cmd_report(args) -> int:
    from manifests.ops.report import write_report
    from medharvest.output import summary_table

    path, summary = write_report(args.manifest, args.out, per_class=args.per_class, seed=args.seed)
    summary_table("manifest report", {**summary, "out": str(path)}, quiet=args.quiet)
    return 0

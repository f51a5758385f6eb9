"""`medharvest crawl SOURCE --out DIR`: crawl one public source into a raw store; `crawl --list`."""

from __future__ import annotations


def _option(text: str) -> tuple[str, object]:
    import argparse
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option wants KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def register(sub) -> None:
    from medharvest.cli import add_common, add_executor

    p = sub.add_parser(
        "crawl", help="download a public source into DIR/raw/SOURCE (items.jsonl + files)",
        description="Crawl one source into DIR/raw/SOURCE/{files/,items.jsonl,stats.json}. "
                    "Re-running the same command resumes: finished items are verified and skipped, partial "
                    "files continue with HTTP Range. Credentials come from the environment or ~/.netrc only. "
                    "'medharvest crawl --list' shows every source with its access terms, the environment "
                    "variables it reads and its options (read from the sources themselves, so this help "
                    "stays instant). Your contact for the User-Agent: --contact or MEDHARVEST_CONTACT (wikimedia "
                    "requires it).")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="source name (see --list)")
    p.add_argument("--list", action="store_true", help="list the sources and their access terms")
    p.add_argument("--out", metavar="DIR", help="data directory")
    p.add_argument("--query", help="source-specific search / filter (see the source's datasheet)")
    p.add_argument("--limit", type=int, help="at most N items")
    p.add_argument("--base-url", metavar="URL", help="mirror or loopback replay server instead of the real host")
    p.add_argument("--resume", action="store_true",
                   help="insist on resuming: exit 2 when DIR/raw/SOURCE holds no previous run (resuming is the default)")
    p.add_argument("--fresh", action="store_true", help="delete DIR/raw/SOURCE first and start over")
    p.add_argument("--manifest", metavar="FILE", help="gdc: download the files of a GDC portal manifest")
    p.add_argument("--workers", type=int, help="download threads (default 8; per shard task with --executor ray)")
    p.add_argument("--shard-size", type=int, metavar="N", help="--executor ray: items per shard task (default 500)")
    p.add_argument("--contact", metavar="EMAIL|URL",
                   help="how the site operators can reach you, sent in the User-Agent (required by wikimedia; "
                        "default $MEDHARVEST_CONTACT)")
    p.add_argument("--licences", metavar="LIST",
                   help="keep only these licence families, e.g. CC-BY,CC-BY-SA,CC0,PD (sources with a 'licences' option)")
    p.add_argument("--start-url", action="append", default=[], metavar="URL",
                   help="web: a page to start from (repeatable; a path is resolved against --base-url)")
    p.add_argument("--sitemap", metavar="URL", help="web: crawl the pages a sitemap.xml (or sitemap index) lists")
    p.add_argument("--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="source option, e.g. project=mimic-cxr, include='sub-*/anat/*.nii.gz' (repeatable)")
    add_executor(p)
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import time
    from pathlib import Path

    from crawlers import registry
    from manifests.errors import UsageError
    from medharvest.output import summary_table

    if args.list:
        summary_table("sources", registry.listing(), quiet=args.quiet)
        return 0
    if not args.source:
        raise UsageError("crawl needs a SOURCE (or --list)")
    if not args.out:
        raise UsageError("crawl needs --out DIR")
    if args.resume and args.fresh:
        raise UsageError("--resume and --fresh contradict each other")
    registry.spider_class(args.source)  # unknown source -> "did you mean" (exit 2) before any work
    root = Path(args.out) / "raw" / args.source
    if args.resume and not ((root / "items.jsonl").exists() or (root / ".plan" / "plan.json").exists()):
        raise UsageError(f"--resume: {args.out}/raw/{args.source} holds no previous run (drop --resume to start one)")
    from medharvest.cli import executor_from

    executor = executor_from(args)  # unknown executor -> "did you mean" (exit 2) before any work
    if args.shard_size is not None and not executor.distributed:
        raise UsageError("--shard-size needs --executor ray (a local crawl has no shards)")

    from crawlers.engine.credentials import present
    from crawlers.engine.run import CrawlConfig, crawl
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.runinfo import write_run_json

    toml = load_toml(args.config, "crawl")
    options = {**toml.pop("options", {}), **dict(args.option)}
    if args.manifest:
        options["manifest"] = args.manifest
    if args.licences:
        options["licences"] = args.licences
    if args.start_url:
        options["start_urls"] = list(args.start_url)
    if args.sitemap:
        options["sitemap"] = args.sitemap
    if getattr(args, "contact", None):
        options["contact"] = args.contact
    cfg = resolve(CrawlConfig, toml=toml, flags={"query": args.query, "limit": args.limit, "base_url": args.base_url,
                                                  "workers": args.workers, "shard_size": args.shard_size,
                                                  "options": options or None})
    start = time.perf_counter()
    with executor:
        summary = crawl(args.source, args.out, query=cfg.query, limit=cfg.limit, base_url=cfg.base_url, resume=not args.fresh,
                        options=cfg.options, workers=cfg.workers, in_process=True, executor=executor,
                        shard_size=cfg.shard_size, log_level="INFO" if getattr(args, "verbose", 0) else "WARNING")
        where = executor.describe()
    seconds = round(time.perf_counter() - start, 2)
    write_run_json(f"{args.out}/raw/{args.source}", f"crawl {args.source}",
                   {**as_dict(cfg), **where, "credentials_present": present()}, {**summary, "seconds": seconds})
    summary_table(f"crawl {args.source} -> {args.out}/raw/{args.source}", {
        "items": summary.get("items"), "status": summary.get("status"), **summary.get("run", {}), "seconds": seconds,
    }, quiet=args.quiet)
    return 0 if not summary.get("status", {}).get("error") else 1

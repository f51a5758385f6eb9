"""The ``medharvest`` command: verb-first sub-commands that each call one stage.

Each sub-command lives in a ``medharvest/cmd_*.py`` module with a ``register(subparsers)``
function. Those modules import only argparse-level things at import time; torch, spaCy, Selenium,
Scrapy and OCR are imported inside the functions that run a command, so ``--help`` is instant.

Exit codes: 0 success, 1 the stage failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys

from manifests.errors import MedharvestError, StageError, UsageError
from manifests.registry import did_you_mean

#: Sub-command modules, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "medharvest.cmd_demo",
    "medharvest.cmd_sample",
    "medharvest.cmd_import",
    "medharvest.cmd_crawl",
    "medharvest.cmd_curate",
    "medharvest.cmd_manifest",
    "medharvest.cmd_annotate",
    "medharvest.cmd_gan",
    "medharvest.cmd_classify",
    "medharvest.cmd_experiment",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


_ROLE = re.compile(r":(?:mod|func|class|data|meth|attr):`~?([^`]+)`")


def plain(text: str) -> str:
    """Help text without reST markup: ``x`` and :mod:`x` become x (docstrings feed some help)."""
    return _ROLE.sub(r"\1", text).replace("``", "")


class Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for unknown choices, exit code 2 for usage errors, and help
    printed as plain text."""

    def format_help(self) -> str:
        return plain(super().format_help())

    def error(self, message: str):  # noqa: D401 - argparse API
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
            message = f"unknown choice '{m.group(1)}'{did_you_mean(m.group(1), choices)}"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(prog="medharvest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def add_common(p: argparse.ArgumentParser, *, config: bool = True, quiet: bool = True) -> None:
    """Options every stage command shares."""
    if config:
        p.add_argument("--config", metavar="TOML", help="TOML file with settings (flags override it)")
    if quiet:
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or tables")


def add_executor(p: argparse.ArgumentParser) -> None:
    """``--executor NAME`` and ``--ray-address ADDR`` (see :mod:`manifests.executor`)."""
    from manifests.executor import EXECUTORS

    p.add_argument("--executor", default="local", metavar="NAME",
                   help=f"where the per-record work runs: {', '.join(EXECUTORS)} (default local)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --executor ray: 'auto' joins the running cluster, host:port or ray://host:10001 "
                        "joins that one; without it a local Ray is started for this run")


def executor_from(args):
    """The (unstarted) executor the flags name; an unknown name is a usage error, before any work."""
    from manifests.executor import make_executor

    return make_executor(args.executor, args.ray_address)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from medharvest.runinfo import version

        print(version())
        return EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE if args.command is None else EXIT_OK
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        rc = args.func(args)
    except UsageError as err:
        print(f"medharvest: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (StageError, MedharvestError) as err:
        print(f"medharvest: failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("medharvest: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return EXIT_OK if rc is None else int(rc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

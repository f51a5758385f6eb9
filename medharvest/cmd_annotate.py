"""`medharvest annotate serve|push|pull`: the Label Studio round trip (curation.labelstudio).

The API token comes from ``--token`` or ``LABEL_STUDIO_API_KEY`` and is never logged; only
``annotate serve`` prints the token of the server it starts, by design.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medharvest.cli import add_common


def register(sub) -> None:
    p = sub.add_parser("annotate", help="Label Studio: serve locally, push tasks, pull human labels")
    verbs = p.add_subparsers(dest="annotate_command", metavar="ACTION")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    s = verbs.add_parser("serve", help="start a local Label Studio on 127.0.0.1 and print its URL and token")
    s.add_argument("--data-dir", required=True, type=Path, help="Label Studio's database and media folder")
    s.add_argument("--port", type=int, default=8080, help="port (0: any free port; default 8080)")
    s.add_argument("--document-root", type=Path, default=None,
                   help="folder below which images may be served (default: the current directory)")
    s.set_defaults(func=_serve)

    def creds(q: argparse.ArgumentParser) -> None:
        q.add_argument("--url", help="Label Studio URL (default: $LABEL_STUDIO_URL or http://127.0.0.1:8080)")
        q.add_argument("--token", "--api-key", dest="token", help="API token (default: $LABEL_STUDIO_API_KEY)")
        q.add_argument("--project", required=True, help="project title (created when missing)")

    q = verbs.add_parser("push", help="create/reuse a project and import the manifest's records as tasks")
    q.add_argument("manifest", help="manifest file or folder")
    creds(q)
    q.add_argument("--filter", help="COLUMN=VALUE[,COLUMN!=VALUE,label:FINDING=STATE]")
    q.add_argument("--limit", type=int, help="push at most N records")
    q.add_argument("--image-url-base", help="serve images from URL/<image_path> instead of a Local Files storage")
    q.add_argument("--document-root", type=Path,
                   help="the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: env, else probed)")
    q.add_argument("--update-config", action="store_true", help="replace an existing project's labeling config")
    add_common(q)
    q.set_defaults(func=_push)

    r = verbs.add_parser("pull", help="export the project's annotations and merge them into a new manifest")
    creds(r)
    r.add_argument("--out", required=True, help="output manifest (.parquet) or folder")
    r.add_argument("--base", help="manifest to merge into (default: the one recorded at push)")
    add_common(r)
    r.set_defaults(func=_pull)


def _serve(args) -> int:
    from curation.labelstudio.server import LabelStudioServer

    server = LabelStudioServer(args.data_dir, port=args.port, document_root=args.document_root)
    with server:
        print(f"Label Studio is running at {server.url}", flush=True)
        print(f"  user:  {server.credentials.username}\n  password: {server.credentials.password}")
        print(f"  API token: {server.token}")
        print(f"  document root for local images: {server.document_root}")
        print(f"export LABEL_STUDIO_URL={server.url} LABEL_STUDIO_API_KEY={server.token}")
        print("Ctrl-C stops it.", flush=True)
        try:
            rc = server.wait()
        except KeyboardInterrupt:
            print("stopping Label Studio", file=sys.stderr)
            return 0
    return 1 if rc else 0


def _push(args) -> int:
    from curation.labelstudio.client import Connection
    from curation.labelstudio.push import PushConfig, push
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import summary_table

    conn = Connection.resolve(args.url, args.token)
    cfg = resolve(PushConfig, toml=load_toml(args.config, "annotate.push"), flags={
        "project": args.project, "filter": args.filter, "limit": args.limit, "image_url_base": args.image_url_base,
        "document_root": args.document_root, "update_config": args.update_config or None})
    summary = push(conn, args.manifest, cfg)
    summary_table("annotate push", {"url": conn.url, **summary, "config": as_dict(cfg)}, quiet=args.quiet)
    return 0


def _pull(args) -> int:
    from curation.labelstudio.client import Connection
    from curation.labelstudio.pull import PullConfig, output_paths, pull
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    conn = Connection.resolve(args.url, args.token)
    cfg = resolve(PullConfig, toml=load_toml(args.config, "annotate.pull"), flags={"project": args.project})
    summary = pull(conn, args.out, cfg, base=args.base)
    out_dir = output_paths(args.out)["manifest"].parent
    write_run_json(out_dir, "annotate pull", {**as_dict(cfg), "url": conn.url}, summary)
    summary_table("annotate pull", {k: v for k, v in summary.items() if k != "alpha_per_finding"}, quiet=args.quiet)
    return 0



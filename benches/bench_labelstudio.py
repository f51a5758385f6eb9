"""Benchmark: ``annotate push`` and ``annotate pull`` of N tasks (default 1,000) against a real Label Studio.

Starts a local Label Studio 1.23 (``LabelStudioServer``, fresh data dir in a temp folder) unless
``--url``/``--token`` name a running one, builds an N-record manifest with real PNGs, then times:

* push (project + Local Files storage + N tasks with predictions), and a re-push (no duplicates);
* annotation of every task by annotator 1 and of 20 % of them by annotator 2 (one API call each,
  not part of the pull time);
* pull (snapshot export -> download -> merge -> new manifest + stats + conflicts).

Prints one JSON line with the seconds of each step and the 1-minute load average (numbers are only
comparable at similar load). Usage: ``uv run python benches/bench_labelstudio.py [--n 1000]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from curation.labelstudio.client import Connection, connect, find_project  # noqa: E402
from curation.labelstudio.pull import PullConfig, pull  # noqa: E402
from curation.labelstudio.push import PushConfig, push  # noqa: E402
from curation.labelstudio.server import LabelStudioServer  # noqa: E402
from tests.curation.labelstudio_server import make_manifest  # noqa: E402


def run(conn: Connection, tmp: Path, n: int) -> dict:
    out: dict = {"n": n}
    t = time.perf_counter()
    manifest = make_manifest(tmp / "ds", n=n, source="bench", width=64, height=64)
    out["make_manifest_s"] = round(time.perf_counter() - t, 2)
    project = f"bench-{n}-{int(time.time())}"
    t = time.perf_counter()
    s = push(conn, manifest, PushConfig(project=project))
    out["push_s"] = round(time.perf_counter() - t, 2)
    assert s["imported"] == n, s
    t = time.perf_counter()
    s = push(conn, manifest, PushConfig(project=project))
    out["repush_noop_s"] = round(time.perf_counter() - t, 2)
    assert s["imported"] == 0 and s["already_in_project"] == n, s

    client = connect(conn)
    pid = find_project(conn, client, project).id
    ids = [task.id for task in client.tasks.list(project=pid, include="id", page_size=1000)]
    email = "bench.annotator2@medharvest.local"
    second = next((u.id for u in client.users.list() if u.email == email), None)
    second = second or client.users.create(email=email, username=email).id
    rect = {"from_name": "lesions", "to_name": "image", "type": "rectanglelabels", "original_width": 64,
            "original_height": 64, "value": {"x": 10, "y": 10, "width": 20, "height": 30, "rectanglelabels": ["Mass"]}}
    t = time.perf_counter()
    for i, tid in enumerate(ids):  # (the bulk-annotation endpoint is Enterprise-only)
        client.annotations.create(id=tid, result=[
            {"from_name": "findings", "to_name": "image", "type": "choices", "value": {"choices": ["Mass"]}}, rect])
        if i < n // 5:
            client.annotations.create(id=tid, completed_by=second, result=[
                {"from_name": "findings", "to_name": "image", "type": "choices", "value": {"choices": ["Nodule"]}}])
    out["annotate_via_api_s"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    s = pull(conn, tmp / "pulled", PullConfig(project=project))
    out["pull_s"] = round(time.perf_counter() - t, 2)
    out["pulled_annotations"] = s["annotations"]
    out["conflicts"] = s["conflicts"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--url")
    ap.add_argument("--token")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ls-") as td:
        tmp = Path(td)
        if args.url:
            result = run(Connection.resolve(args.url, args.token), tmp, args.n)
        else:
            t = time.perf_counter()
            with LabelStudioServer(tmp / "ls-data", document_root=tmp) as server:
                start_s = round(time.perf_counter() - t, 2)
                result = {"server_first_start_s": start_s, **run(Connection(server.url, server.token), tmp, args.n)}
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()

"""Many small files: the same 10,000-URL list on a loopback server, medharvest's downloader vs img2dataset.

    uv run python benches/bench_download_small.py [--n 10000] [--img2dataset PATH] [--workers 32]

img2dataset is not a project dependency: install it in its own environment, e.g.
``uv venv /tmp/i2d-venv -p 3.11 && VIRTUAL_ENV=/tmp/i2d-venv uv pip install img2dataset`` (or
``uv tool install img2dataset``), and pass ``--img2dataset /tmp/i2d-venv/bin/img2dataset``. It runs
with ``--resize_mode no --disable_all_reencoding True --output_format files``. Both clients run as
subprocesses against one server process, in the same run; wall time includes process start.
Ours verifies every file's sha256 on the fly and writes it atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def start_server(tmp: Path) -> tuple[subprocess.Popen, int]:
    portfile = tmp / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "bench_download_server.py"), str(portfile)])
    for _ in range(200):
        if portfile.exists():
            return proc, int(portfile.read_text())
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("benchmark server did not start")


def ours(list_file: str, out: str, workers: int, per_host: int, processes: int) -> None:
    """The client side of our run (executed in a subprocess): ``url sha256`` per line in ``list_file``."""
    sys.path.insert(0, str(ROOT))
    from crawlers.engine.download import Downloader, FileRequest

    rows = [line.split() for line in Path(list_file).read_text().splitlines()]
    reqs = [FileRequest(u, Path(out) / f"{i // 1000:03d}" / f"{i:06d}.jpg", checksum="sha256:" + sha, expect="image")
            for i, (u, sha) in enumerate(rows)]
    t = time.perf_counter()
    with Downloader(per_host=per_host, rate=None, retries=2, backoff=0.05) as d:
        ok = sum(r.ok for _, r in d.fetch_many(reqs, workers=workers, processes=processes))
    print(json.dumps({"ok": ok, "download_seconds": time.perf_counter() - t}))


def run_timed(cmd: list[str], env=None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, proc


def count_files(path: Path, suffix: str) -> int:
    return sum(1 for _ in path.rglob(f"*{suffix}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=16, help="download threads (per process)")
    ap.add_argument("--processes", type=int, default=2, help="download processes for ours (img2dataset: --i2d-processes)")
    ap.add_argument("--img2dataset", default=shutil.which("img2dataset") or "/tmp/i2d-venv/bin/img2dataset")
    ap.add_argument("--i2d-processes", type=int, default=2)
    ap.add_argument("--i2d-threads", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--_ours", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._ours:
        ours(args._ours[0], args._ours[1], args.workers, args.workers * args.processes, args.processes)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-small-"))
    server, port = start_server(tmp)
    try:
        sys.path.insert(0, str(HERE))
        from bench_download_server import image_bytes

        urls = [f"http://127.0.0.1:{port}/img/{i}.jpg" for i in range(args.n)]
        (tmp / "urls.txt").write_text("\n".join(urls) + "\n")
        (tmp / "list.txt").write_text("".join(f"{u} {hashlib.sha256(image_bytes(i)).hexdigest()}\n" for i, u in enumerate(urls)))
        results = {"n": args.n, "ours": [], "img2dataset": []}
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for rep in range(args.repeat):
            out = tmp / f"ours{rep}"
            secs, proc = run_timed([sys.executable, __file__, "--workers", str(args.workers), "--processes", str(args.processes), "--_ours", str(tmp / "list.txt"), str(out)], env)
            rep_ = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {"ok": 0, "download_seconds": 1}
            ok, steady = rep_["ok"], rep_["ok"] / rep_["download_seconds"]
            results["ours"].append({"seconds": round(secs, 2), "ok": ok, "files_per_s": round(ok / secs, 1),
                                    "steady_files_per_s": round(steady, 1)})
            print(f"ours        : {ok}/{args.n} files in {secs:.2f} s wall -> {ok / secs:.0f} files/s "
                  f"(download phase {steady:.0f} files/s, sha256-verified)", flush=True)
            shutil.rmtree(out, ignore_errors=True)
            if Path(args.img2dataset).exists():
                out = tmp / f"i2d{rep}"
                cmd = [args.img2dataset, "--url_list", str(tmp / "urls.txt"), "--input_format", "txt", "--output_folder", str(out),
                       "--output_format", "files", "--resize_mode", "no", "--disable_all_reencoding", "True",
                       "--processes_count", str(args.i2d_processes), "--thread_count", str(args.i2d_threads),
                       "--number_sample_per_shard", "1000", "--timeout", "10", "--retries", "2", "--enable_wandb", "False",
                       "--distributor", "multiprocessing"]
                # NO_ALBUMENTATIONS_UPDATE: its import-time version check would wait on the (absent) network
                secs, proc = run_timed(cmd, {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})
                ok = count_files(out, ".jpg")
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                # its own steady-state figure: the last "total ... images per sec: N" line it prints
                totals = re.findall(r"total\s+-.*images per sec: (\d+)", proc.stdout + proc.stderr)
                steady = float(totals[-1]) if totals else float("nan")
                results["img2dataset"].append({"seconds": round(secs, 2), "ok": ok, "files_per_s": round(ok / secs, 1),
                                               "steady_files_per_s": steady})
                print(f"img2dataset : {ok}/{args.n} files in {secs:.2f} s wall -> {ok / secs:.0f} files/s "
                      f"(its reported download rate {steady:.0f} images/s)", flush=True)
                shutil.rmtree(out, ignore_errors=True)
            else:
                print(f"img2dataset not found at {args.img2dataset}; see the module docstring", file=sys.stderr)
        if results["img2dataset"]:
            a = max(r["files_per_s"] for r in results["ours"])
            b = max(r["files_per_s"] for r in results["img2dataset"])
            sa = max(r["steady_files_per_s"] for r in results["ours"])
            sb = max(r["steady_files_per_s"] for r in results["img2dataset"])
            results["ratio_wall"] = round(a / b, 2)
            results["ratio_steady"] = round(sa / sb, 2)
            print(f"ratio (best of {args.repeat}): wall {a / b:.2f}x, download phase {sa / sb:.2f}x (ours / img2dataset)")
        print(json.dumps(results))
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

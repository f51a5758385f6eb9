"""One large file (default 1 GiB, generated on the fly by a loopback server, never stored in the repo):
medharvest's streaming downloader (sha256 verified on the fly, written to disk, atomic rename) vs
``curl -o /dev/null`` (no hashing, no disk) and ``curl -o FILE``, in the same run.

    uv run python benches/bench_download_large.py [--size-mb 1024] [--repeat 2] [--dir /dev/shm]

Files are written under ``--dir`` (default ``/dev/shm`` when present: this VM's disk write speed swings
between ~130 and ~1400 MB/s with page-cache state, which would drown the downloader's own cost;
``curl -o FILE`` writes to the same place).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_download_server import big_sha256  # noqa: E402
from bench_download_small import start_server  # noqa: E402

from crawlers.engine.download import Downloader, FileRequest  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = ap.parse_args()
    n = args.size_mb << 20
    tmp = Path(tempfile.mkdtemp(prefix="bench-large-", dir=args.dir))
    server, port = start_server(tmp)
    url = f"http://127.0.0.1:{port}/big/{n}"
    try:
        sha = big_sha256(n)
        res = {"bytes": n, "ours": [], "curl_devnull": [], "curl_file": []}
        for _ in range(args.repeat):
            t = time.perf_counter()
            with Downloader(rate=None) as d:
                r = d.fetch(FileRequest(url, tmp / "big.bin", checksum=f"sha256:{sha}", size=n))
            secs = time.perf_counter() - t
            assert r.ok, r.error
            (tmp / "big.bin").unlink()
            res["ours"].append(n / secs / 1e6)
            for key, out in (("curl_devnull", "/dev/null"), ("curl_file", str(tmp / "curl.bin"))):
                t = time.perf_counter()
                subprocess.run(["curl", "-s", "-o", out, url], check=True)
                res[key].append(n / (time.perf_counter() - t) / 1e6)
                Path(tmp / "curl.bin").unlink(missing_ok=True)
        best = {k: round(max(v), 1) for k, v in res.items() if isinstance(v, list)}
        print(f"ours (sha256 + disk + rename): {best['ours']:.0f} MB/s")
        print(f"curl -o /dev/null            : {best['curl_devnull']:.0f} MB/s")
        print(f"curl -o FILE                 : {best['curl_file']:.0f} MB/s")
        print(f"ours / curl(/dev/null) = {best['ours'] / best['curl_devnull']:.2f}; ours / curl(file) = "
              f"{best['ours'] / best['curl_file']:.2f}")
        print(json.dumps({"bytes": n, "best_MB_per_s": best}))
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

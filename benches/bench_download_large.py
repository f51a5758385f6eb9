"""One large file (default 1 GiB, generated on the fly by a loopback server, never stored in the repo):
medharvest's streaming downloader (sha256 verified on the fly, written to disk, atomic rename) vs
``curl -o /dev/null`` (no hashing, no disk) and ``curl -o FILE``, in the same run, plus the ceilings
that include the hash: hashlib sha256 over memory on one core (no network, no disk: no downloader
that verifies sha256 in one stream can beat it) and C pipelines ``curl | openssl dgst -sha256``
(no disk) and ``curl | tee FILE | openssl dgst -sha256`` (disk + hash) when ``openssl`` is installed,
and ``dl_ceiling.c`` (one C thread: recv -> SHA256 -> write FILE) when ``cc`` and libcrypto are.
Best-of and median of ``--repeat`` interleaved runs are printed (the box is shared: trust best-of).

    uv run python benches/bench_download_large.py [--size-mb 1024] [--repeat 2] [--dir /dev/shm]

Files are written under ``--dir`` (default ``/dev/shm`` when present: this VM's disk write speed swings
between ~130 and ~1400 MB/s with page-cache state, which would drown the downloader's own cost;
``curl -o FILE`` writes to the same place).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
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


def _build_ceiling(tmp: Path) -> str | None:
    """Compile ``dl_ceiling.c`` into ``tmp``; None when no compiler or libcrypto headers."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    out = tmp / "dl_ceiling"
    done = subprocess.run([cc, "-O2", "-Wno-deprecated-declarations", "-o", str(out), str(HERE / "dl_ceiling.c"), "-lcrypto"],
                          capture_output=True)
    return str(out) if done.returncode == 0 else None


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
        res: dict[str, list[float]] = {"ours": [], "curl_devnull": [], "curl_file": [], "sha256_mem": []}
        pipes = {"curl|openssl": f"curl -s {url} | openssl dgst -sha256",
                 "curl|tee|openssl": f"curl -s {url} | tee {tmp / 'tee.bin'} | openssl dgst -sha256"}
        if shutil.which("openssl"):
            res.update({k: [] for k in pipes})
        cbin = _build_ceiling(tmp)
        if cbin:
            res["c_1thread"] = []
        buf = memoryview(bytearray(1 << 20))
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
            for key, cmd in pipes.items():
                if key in res:
                    t = time.perf_counter()
                    got = subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout
                    res[key].append(n / (time.perf_counter() - t) / 1e6)
                    assert sha in got, got
                    Path(tmp / "tee.bin").unlink(missing_ok=True)
            if cbin:
                t = time.perf_counter()
                got = subprocess.run([cbin, str(port), str(n), str(tmp / "c.bin")], check=True, capture_output=True, text=True).stdout
                res["c_1thread"].append(n / (time.perf_counter() - t) / 1e6)
                assert got.split() == [sha, str(n)], got
                Path(tmp / "c.bin").unlink(missing_ok=True)
            h, t = hashlib.sha256(), time.perf_counter()
            for _ in range(n // len(buf)):
                h.update(buf)
            res["sha256_mem"].append(n // len(buf) * len(buf) / (time.perf_counter() - t) / 1e6)
        best = {k: round(max(v), 1) for k, v in res.items()}
        med = {k: round(statistics.median(v), 1) for k, v in res.items()}
        labels = {"ours": "ours (sha256 + disk + rename)", "curl_devnull": "curl -o /dev/null",
                  "curl_file": "curl -o FILE", "curl|openssl": "curl | openssl sha256 (C, no disk)",
                  "curl|tee|openssl": "curl | tee FILE | openssl sha256", "sha256_mem": "hashlib sha256, memory only",
                  "c_1thread": "C recv->SHA256->write FILE, 1 thread"}
        for k in res:
            print(f"{labels[k]:38s}: best {best[k]:6.0f} MB/s   median {med[k]:6.0f} MB/s")
        ratios = {k: round(best["ours"] / best[k], 2) for k in res if k != "ours"}
        print("ours / ... (best-of): " + "; ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
        print("ceiling: one sha256 stream caps any verifying downloader at the sha256_mem rate; on loopback the "
              "server, the receive copy and the disk write share the same cores")
        print(json.dumps({"bytes": n, "repeat": args.repeat, "best_MB_per_s": best, "median_MB_per_s": med,
                          "ours_over": ratios}))
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

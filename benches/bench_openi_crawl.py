"""Open-i end to end on loopback: N records (real response shape) in pages of 100, N small PNGs.

Measures ``crawl("openi", …)`` (Scrapy paging + the engine's streaming downloads + raw store) in a
child process, then a re-run (everything verified and skipped). Prints numbers; asserts nothing.

    uv run python benches/bench_openi_crawl.py [N]
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crawlers.engine import crawl  # noqa: E402
from tests.crawlers.replay import ReplayServer, Response  # noqa: E402

FIX = REPO / "tests" / "crawlers" / "fixtures"


def main(n: int = 1000) -> None:
    template = json.loads((FIX / "openi" / "search_cxr_m1.json").read_text())["list"][0]
    png = (FIX / "files" / "xray_a.png").read_bytes()
    records = []
    for i in range(1, n + 1):
        r = copy.deepcopy(template)
        name = f"CXR{i}_IM-{i:04d}-1001"
        r["uid"] = f"CXR{i}"
        for k, size in (("imgLarge", 512), ("imgThumb", 100)):
            r[k] = f"/imgs/{size}/{i % 97}/{i}/{name}.png"
        r["detailedQueryURL"] = f"retrieve.php?img={name}&query=&coll=cxr&req=4"
        records.append(r)

    def search(req):
        m, last = int(req.query["m"][0]), int(req.query["n"][0])
        page = records[m - 1:last]
        body = {"min": m, "max": m + len(page) - 1, "count": len(page), "total": n, "approximage": "false", "list": page}
        return Response(200, json.dumps(body).encode(), content_type="application/json")

    with ReplayServer() as srv, tempfile.TemporaryDirectory() as out:
        srv.add_handler("/api/search", search)
        srv.add_handler("/imgs/", lambda req: Response(200, png, content_type="image/png"), prefix=True)
        t0 = time.perf_counter()
        summary = crawl("openi", out, base_url=srv.url(), options={"page_size": 100})
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        crawl("openi", out, base_url=srv.url(), options={"page_size": 100})
        again = time.perf_counter() - t0
    ok = summary["status"].get("ok", 0)
    print(f"openi, {n} records / {n} images on loopback: {first:.1f} s ({ok / first:.0f} items/s, "
          f"incl. ~3 s process + Scrapy start), status {summary['status']}")
    print(f"re-run (all done, verified, skipped): {again:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)

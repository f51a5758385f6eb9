"""MedPix path: pages/s through the Selenium middleware (one shared headless Chromium) on loopback.

Serves the JS stand-in site of ``tests/crawlers/fixtures/medpix`` (cases render 400 ms after load,
like a slow SPA) and renders N case pages with one shared driver, then a few with a fresh driver per
page (what "one driver per crawl" saves). Prints the numbers; asserts nothing.

    uv run python benches/bench_medpix_render.py [N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scrapy import Request  # noqa: E402

from crawlers import medpix  # noqa: E402
from crawlers.browser import BrowserMiddleware, missing_browser  # noqa: E402
from tests.crawlers.replay import ReplayServer, Response  # noqa: E402

M = REPO / "tests" / "crawlers" / "fixtures" / "medpix"
CASE = "6e9ef54b-1c4e-4d3e-8f0f-2a6f3d9b1009"


def main(n: int = 20) -> None:
    why = missing_browser()
    if why:
        sys.exit(why)
    with ReplayServer() as srv:
        srv.add_file("/case", M / "case.html", content_type="text/html")
        srv.add_file("/js/medpix.js", M / "medpix.js", content_type="application/javascript")
        body = (M / f"rest_case_{CASE}.json").read_bytes()
        srv.add_handler("/rest/case.json", lambda req: Response(200, body, content_type="application/json"))
        url = srv.url(f"/case?id={CASE}")
        meta = {"browser": True, "browser_wait": medpix.CASE_WAIT}

        mw = BrowserMiddleware()
        t0 = time.perf_counter()
        mw.render(Request(url, meta=dict(meta)))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n):
            resp = mw.render(Request(url, meta=dict(meta)))
            assert len(medpix.parse_case(resp.body, url)) == 2
        shared = (time.perf_counter() - t0) / n
        mw.close()

        k = 3
        t0 = time.perf_counter()
        for _ in range(k):
            fresh = BrowserMiddleware()
            fresh.render(Request(url, meta=dict(meta)))
            fresh.close()
        per_page = (time.perf_counter() - t0) / k
    print(f"first page (driver start + render): {first:.2f} s")
    print(f"shared driver: {shared:.3f} s/page ({1 / shared:.2f} pages/s) over {n} pages "
          f"(includes the site's 0.4 s render delay)")
    print(f"fresh driver per page: {per_page:.2f} s/page -> one driver per crawl is {per_page / shared:.1f}x faster")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

"""An Open-i search API + image host on loopback with N records (the recorded response's shape).

Used by the executor tests and ``benches/bench_ray.py``: every record's image is a distinct small
radiograph-like PNG, except that every ``dup_every``-th record reuses an earlier record's bytes
(an exact duplicate for curation's duplicate groups). ``delay`` slows each image response (so a
test can kill a worker mid-crawl); ``stamps`` collects ``(monotonic time, in-flight count)`` per
image request (so a test can check cluster-wide politeness).
"""

from __future__ import annotations

import copy
import io
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tests.crawlers.replay import ReplayServer, Response

FIX = Path(__file__).resolve().parent / "fixtures"


def png_bytes(seed: int, size: int = 96) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = 70 + 110 * np.exp(-(((x - rng.uniform(.3, .7)) / .3) ** 2 + ((y - .5) / .45) ** 2))
    img += 50 * np.sin(rng.uniform(0, 6) + rng.uniform(3, 14) * x) * y + rng.normal(0, 3, (size, size))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class OpeniSite:
    def __init__(self, n: int, *, dup_every: int = 7, delay: float = 0.0, small: bool = False):
        template = json.loads((FIX / "openi" / "search_cxr_m1.json").read_text())["list"][0]
        self.n, self.delay = n, delay
        self.records, self.images = [], {}
        shared = png_bytes(0) if small else None
        for i in range(1, n + 1):
            r = copy.deepcopy(template)
            name = f"CXR{i}_IM-{i:04d}-1001"
            r["uid"] = f"CXR{i}"
            r["imgLarge"] = f"/imgs/512/{i % 97}/{i}/{name}.png"
            r["imgThumb"] = f"/imgs/100/{i % 97}/{i}/{name}.png"
            r["detailedQueryURL"] = f"retrieve.php?img={name}&query=&coll=cxr&req=4"
            self.records.append(r)
            src = i - 3 if (dup_every and i > 3 and i % dup_every == 0) else i
            self.images[r["imgLarge"]] = shared if small else png_bytes(src)
        self.stamps: list[tuple[float, int]] = []
        self.inflight = 0
        self.lock = threading.Lock()

    def search(self, req):
        m, last = int(req.query["m"][0]), int(req.query["n"][0])
        page = self.records[m - 1:last]
        body = {"min": m, "max": m + len(page) - 1, "count": len(page), "total": self.n, "approximage": "false", "list": page}
        return Response(200, json.dumps(body).encode(), content_type="application/json")

    def image(self, req):
        with self.lock:
            self.inflight += 1
            self.stamps.append((time.monotonic(), self.inflight))
        try:
            if self.delay:
                time.sleep(self.delay)
            body = self.images.get(req.path)
            return Response(404, b"no such image") if body is None else Response(200, body, content_type="image/png")
        finally:
            with self.lock:
                self.inflight -= 1


@contextmanager
def openi_site(n: int, **kw):
    """``(server, site)``: the replay server (``server.url()`` is the crawl's base URL) and its state."""
    site = OpeniSite(n, **kw)
    with ReplayServer() as srv:
        srv.add_handler("/api/search", site.search)
        srv.add_handler("/imgs/", site.image, prefix=True)
        yield srv, site

"""One crawl case per registered source, for the source contract test (``test_source_contract``).

Convention: ``CASES[<source name>]`` is a function ``(srv, monkeypatch) -> Case`` that sets up the
loopback replay server ``srv`` (and the environment, e.g. credentials) so that a crawl of the
source yields at least one ``ok`` item and at least one item that fails for good (bad input: a
corrupt file, an error page, a missing case). A source without an entry here FAILS the contract
test: writing a new source means writing its case too. The cases reuse each source's own test
fixtures (``tests/crawlers/test_<source>*.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.crawlers import gdc_catalog, physionet_tree
from tests.crawlers.replay import ReplayServer


@dataclass(frozen=True)
class Case:
    query: str | None = None
    options: dict = field(default_factory=dict)
    limit: int | None = None


def _openi(srv: ReplayServer, mp) -> Case:
    from tests.crawlers import test_openi_crawl as t

    t.serve(srv, image_always={"/imgs/512/1/1/CXR1_1_IM-0001-4001.png": "html"})
    return Case(query="normal", options={"collection": "cxr", "page_size": 2})


def _wikimedia(srv: ReplayServer, mp) -> Case:
    from tests.crawlers import test_wikimedia_crawl as t

    mp.setenv("MEDHARVEST_CONTACT", "radiology-data@uni-example-hospital.de")   # required by Wikimedia
    t.serve(srv, file_always={"Chest X-ray PA normal.png": "corrupt"})
    return Case(query="Category:Chest radiographs")


def _pmc(srv: ReplayServer, mp) -> Case:
    from tests.crawlers import test_pmc_crawl as t

    mp.delenv("NCBI_API_KEY", raising=False)
    t.serve(srv)
    path, f = t.FIGS["PMC9100001/fig1"]
    srv.add_file(path, f, content_type="image/jpeg", always="html")
    return Case()


def _openneuro(srv: ReplayServer, mp) -> Case:
    from tests.crawlers import test_openneuro as t

    t.fake_api(srv)
    srv.add("/crn/datasets/ds000001/snapshots/1.0.0/files/sub-02:anat:sub-02_T1w.nii",
            t.FILES["sub-02:anat:sub-02_T1w.nii"], always="corrupt")
    return Case(query="ds000001", options={"include": "sub-*/anat/*.nii"})


def _gdc(srv: ReplayServer, mp) -> Case:
    mp.delenv("GDC_TOKEN", raising=False)
    mp.delenv("GDC_TOKEN_FILE", raising=False)
    fake = gdc_catalog.FakeGDC(3)
    fake.blobs[fake.slides()[0]["file_id"]] = b"II*\x00 not the slide the catalogue describes"
    fake.serve(srv)
    return Case(query="TCGA-BRCA")


def _physionet(srv: ReplayServer, mp) -> Case:
    mp.setenv("PHYSIONET_USERNAME", physionet_tree.USER)
    mp.setenv("PHYSIONET_PASSWORD", physionet_tree.PASSWORD)
    mp.setenv("NETRC", "/nonexistent/netrc")
    fake = physionet_tree.build(3)
    first_jpg = next(p for p in fake.files if p.endswith(".jpg"))
    physionet_tree.serve(srv, fake, always={first_jpg: "html"})
    return Case(limit=3)


def _medpix(srv: ReplayServer, mp) -> Case:
    import tempfile

    from tests.crawlers import test_medpix_crawl as t

    mp.setenv("TMPDIR", tempfile.mkdtemp())   # the browser profile (removed by the spider)
    t.serve(srv)                              # the catalogue names a case the site answers with 404
    return Case(query="pneumonia")


def _web(srv: ReplayServer, mp) -> Case:
    from tests.crawlers import test_web_crawl as t

    t.site(srv)
    srv.add("/health/images/ct-effusion-1200.png", b"", always="html")   # an error page instead of the image
    return Case(options={"start_urls": ["/health/index.html"], "sitemap": "/sitemap.xml",
                         "commons_base_url": srv.url()})


CASES: dict[str, Callable[[ReplayServer, object], Case]] = {
    "openi": _openi, "wikimedia": _wikimedia, "pmc": _pmc, "openneuro": _openneuro,
    "gdc": _gdc, "physionet": _physionet, "medpix": _medpix, "web": _web,
}

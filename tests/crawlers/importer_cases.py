"""One dataset layout per registered importer, for the importer contract test.

Convention: ``CASES[<importer name>]`` is a function ``(tmp_path, shared) -> ROOT`` that builds a
small copy of the dataset's layout under ``tmp_path`` (from the real heads in ../shared, through
the ``shared`` fixture, which skips with a reason when ../shared is absent) holding at least one
good image and at least one bad row (a missing image, a truncated report). An importer without an
entry here FAILS the contract test: writing a new importer means writing its case too. The
layouts are those of each importer's own tests (``tests/crawlers/test_import_<name>.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path


def _chestxray14(tmp_path: Path, shared) -> Path:
    from tests.crawlers.test_import_chestxray14 import _layout

    return _layout(tmp_path, shared("fixtures", "sources", "nih_chestxray14"))[0]   # first image missing


def _chexpert(tmp_path: Path, shared) -> Path:
    from tests.crawlers.test_import_chexpert import _layout

    return _layout(tmp_path, shared("fixtures", "sources", "chexpert"), skip_first_image=True)[0]


def _mimic(tmp_path: Path, shared) -> Path:
    from tests.crawlers.test_import_mimic import _layout

    return _layout(tmp_path, shared("fixtures", "sources", "physionet"))[0]          # last image missing


def _iu(tmp_path: Path, shared) -> Path:
    from tests.crawlers.test_import_iu import XML_DIR, tiny_png

    text = (shared("data", "iu_cxr_reports") / XML_DIR / "1.xml").read_text()
    root = tmp_path / "root"
    root.mkdir()
    (root / "1.xml").write_text(text)                                                 # one of two images present
    (root / "2.xml").write_text(text[: len(text) // 2].replace('id="CXR1"', 'id="CXR2"'))   # truncated XML
    tiny_png(root / "CXR1_1_IM-0001-4001.png")
    assert re.search("parentImage", text)
    return root


def _paip2019(tmp_path: Path, shared) -> Path:
    from tests.crawlers.test_import_paip2019 import make_layout

    # one good case; the others lack a mask, have malformed / region-less XML, or a mask of another size
    return make_layout(tmp_path, shared("data", "histology_wsi_small", "small_HE.svs"))


def _medpix2(tmp_path: Path, shared) -> Path:
    from tests.crawlers.test_import_medpix2 import release

    shared("fixtures", "sources", "medpix")
    return release(tmp_path)                                     # one described image without its file


CASES: dict[str, Callable[[Path, object], Path]] = {
    "chestxray14": _chestxray14, "chexpert": _chexpert, "mimic-cxr-jpg": _mimic, "iu-xray": _iu,
    "paip2019": _paip2019,
    "medpix2": _medpix2,
}

"""``manifest report`` never opens an image outside the manifest's image store(s)."""

from __future__ import annotations

import re

from manifests.io import read_meta
from manifests.ops.report import write_report
from manifests.ops.split import SplitConfig, split_file
from manifests.paths import OutsideRoot, contained, image_roots
from tests.manifests.conftest import make_records, png_bytes, write

import pytest


def test_report_does_not_embed_images_from_outside(tmp_path):
    root = tmp_path / "m"
    recs = make_records(root, 12, seed=3)
    secret = tmp_path / "secret" / "private.png"              # a real image, outside the manifest's folder
    secret.parent.mkdir()
    secret.write_bytes(png_bytes(999))
    recs[0]["image_path"] = "../secret/private.png"
    recs[1]["image_path"] = str(secret)                      # absolute
    (root / "images" / "link.png").symlink_to(secret)         # a symlink out of the store
    recs[2]["image_path"] = "images/link.png"
    src = write(root, recs)
    out, summary = write_report(src, tmp_path / "report.html", per_class=50)
    text = out.read_text()
    jpgs = re.findall(r'src="data:image/jpeg;base64,', text)
    assert summary["thumbnails_outside"] == 3 and len(jpgs) == summary["thumbnails"] == 9
    for key in ("sample:0", "sample:1", "sample:2"):
        assert f'alt="{key}"' not in text
    assert "outside the manifest" in text


def test_a_split_manifest_elsewhere_still_reaches_its_store(tmp_path):
    root = tmp_path / "m"
    src = write(root, make_records(root, 20, seed=1))
    split, _ = split_file(src, tmp_path / "s" / "manifest.parquet", SplitConfig(seed=2))
    assert str(root.resolve()) in read_meta(split)["image_roots"]
    assert image_roots(split) == [(tmp_path / "s").resolve(), root.resolve()]
    _, summary = write_report(split, tmp_path / "r.html", per_class=50)
    assert summary["thumbnails"] == 20 and summary["thumbnails_outside"] == 0


def test_contained_rules(tmp_path):
    (tmp_path / "a").mkdir()
    assert contained("a/x.png", tmp_path) == (tmp_path / "a" / "x.png").resolve()
    for bad in ("../x.png", "a/../../x.png", "/etc/passwd"):
        with pytest.raises(OutsideRoot, match="outside"):
            contained(bad, tmp_path)

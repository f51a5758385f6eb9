import base64
import io
import re

from PIL import Image

from manifests.ops.report import write_report
from manifests.ops.split import SplitConfig, split_file
from tests.manifests.conftest import make_records, write


def test_report_is_a_self_contained_datasheet(tmp_path):
    root = tmp_path / "m"
    recs = make_records(root, 40, web=True, seed=4)
    recs[0]["image_path"] = "images/gone.png"          # skipped gracefully
    recs[1]["image_path"] = "images/0002.png"          # exists
    (root / "images" / "0003.png").write_bytes(b"not an image")  # unreadable: skipped
    recs[5]["phi_flags"] = [{"where": "image", "kind": "name", "left": 1, "top": 2, "width": 3, "height": 4,
                             "confidence": 0.9, "redacted": True}]
    recs[6]["quality_flags"] = ["phi_in_pixels"]
    src = write(root, recs)
    split, _ = split_file(src, tmp_path / "s" / "manifest.parquet", SplitConfig(seed=2))
    # the split manifest lives elsewhere: its image_path values were rebased onto it
    out, summary = write_report(split, tmp_path / "report.html", per_class=50)  # every record is tried
    text = out.read_text()
    for section in ("motivation", "composition", "collection", "preprocessing", "uses", "distribution",
                    "maintenance", "imbalance", "missing", "thumbnails"):
        assert f'id="{section}"' in text, section
    assert "Split × label" in text and "Records per source" in text
    # sources and licences with attribution
    assert "CC BY 4.0" in text and "Open-i, NLM" in text
    # the chart and thumbnails are embedded and decode
    png = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(png) == 1 and Image.open(io.BytesIO(base64.b64decode(png[0]))).format == "PNG"
    jpgs = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', text)
    # one positive finding per record: 40 - 2 unusable files - 2 with identifier detections
    assert summary["thumbnails"] == len(jpgs) == 36
    assert summary["thumbnails_skipped"] == 2 and summary["thumbnails_withheld_phi"] == 2
    assert 'alt="openi:5"' not in text and 'alt="openi:6"' not in text and 'alt="openi:7"' in text
    assert max(Image.open(io.BytesIO(base64.b64decode(j))).size[0] for j in jpgs) <= 96
    # nothing is fetched from the network: no src/href to http(s), no <link>/<script> resources
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text)
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert "seed" in text and "patient" in text   # split metadata in "Uses"


def test_report_with_missing_images_and_no_labels(tmp_path):
    recs = make_records(tmp_path, 5, images=False)
    for r in recs:
        r.update(labels=[], image_path="images/none.png")
    out, summary = write_report(write(tmp_path, recs), tmp_path / "r.html")
    text = out.read_text()
    assert summary["thumbnails"] == 0 and summary["chart"] is False
    assert "No images available" in text and "No positive labels" in text

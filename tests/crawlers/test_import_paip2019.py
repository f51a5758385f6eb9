"""PAIP 2019 importer: a real SVS slide (the shared CMU-1 region stands in for a PAIP slide) with
ImageScope XML and 0/1 mask TIFFs written here in the challenge's formats; bad cases become
per-item errors; a re-run resumes; ``curate run`` gives records with scaled boxes, polygons and mask paths."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image, ImageDraw

from crawlers import importers
from crawlers.importers.aperio import AnnotationError, parse_regions
from crawlers.importers.tiffinfo import TiffError, tiff_header
from manifests.errors import UsageError
from manifests.raw import RawStore

W, H = 2220, 2967          # the shared slide's level-0 size
WHOLE = [(400, 500), (1800, 520), (1900, 2400), (450, 2300)]
VIABLE_A = [(600, 700), (1200, 700), (1200, 1300), (600, 1300)]
VIABLE_B = [(1300, 1500), (1700, 1500), (1650, 2100), (1350, 2050)]
HOLE = [(800, 900), (1000, 900), (1000, 1100), (800, 1100)]


def region(rid, pts, *, negative=False, typ=0):
    verts = "\n".join(f'        <Vertex X="{x}" Y="{y}" Z="0"/>' for x, y in pts)
    return (f'    <Region Id="{rid}" Type="{typ}" Zoom="0.042" Selected="0" ImageLocation="" ImageFocus="-1" '
            f'Length="5000.0" Area="100000.0" LengthMicrons="2500.0" AreaMicrons="25000.0" Text="" '
            f'NegativeROA="{int(negative)}" InputRegionId="0" Analyze="1" DisplayId="{rid}">\n'
            f'      <Attributes/>\n      <Vertices>\n{verts}\n      </Vertices>\n    </Region>')


def annotation(aid, color, regions):
    return (f'<Annotation Id="{aid}" Name="" ReadOnly="0" NameReadOnly="0" LineColorReadOnly="0" Incremental="0" '
            f'Type="4" LineColor="{color}" Visible="1" Selected="1" MarkupImagePath="" MacroName="">\n'
            f'  <Attributes>\n    <Attribute Name="Description" Id="0" Value=""/>\n  </Attributes>\n'
            f'  <Regions>\n    <RegionAttributeHeaders>\n'
            f'      <AttributeHeader Id="9999" Name="Region" ColumnWidth="-1"/>\n'
            f'      <AttributeHeader Id="9997" Name="Length" ColumnWidth="-1"/>\n'
            f'      <AttributeHeader Id="9996" Name="Area" ColumnWidth="-1"/>\n'
            f'    </RegionAttributeHeaders>\n' + "\n".join(regions) + '\n  </Regions>\n  <Plots/>\n</Annotation>')


def paip_xml(layers) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Annotations MicronsPerPixel="0.499000">\n'
            + "\n".join(layers) + "\n</Annotations>\n")


GOOD_XML = paip_xml([
    annotation(1, 65535, [region(1, WHOLE)]),                                     # yellow: whole tumour
    annotation(2, 65280, [region(1, VIABLE_A), region(2, VIABLE_B), region(3, HOLE, negative=True),
                          region(4, [(10, 10), (20, 20)], typ=4)]),               # a ruler: skipped
])


def write_mask(path, polys, size=(W, H), holes=()):
    im = Image.new("L", size, 0)
    d = ImageDraw.Draw(im)
    for p in polys:
        d.polygon(p, fill=1)
    for p in holes:
        d.polygon(p, fill=0)
    im.save(path, compression="tiff_lzw")


@pytest.fixture
def paip_root(tmp_path, shared):
    return make_layout(tmp_path, shared("data", "histology_wsi_small", "small_HE.svs"))


def make_layout(tmp_path, svs):
    """The challenge layout with one good case and four bad ones (the slide is ``svs``, linked)."""
    root = tmp_path / "PAIP2019"
    folder = root / "Training_phase_1" / "Training_phase_1_001"
    folder.mkdir(parents=True)
    masks = root / "ViableMask"          # users sort masks into their own folders: found by name
    masks.mkdir()
    for case in ("01_01_0083", "01_01_0084", "01_01_0085", "01_01_0086", "01_01_0087"):
        os.symlink(svs, folder / f"{case}.svs")
    (folder / "01_01_0083.xml").write_text(GOOD_XML)
    write_mask(folder / "01_01_0083_whole.tif", [WHOLE])
    write_mask(masks / "01_01_0083_viable.tif", [VIABLE_A, VIABLE_B], holes=[HOLE])
    # 0084: the viable mask is missing
    (folder / "01_01_0084.xml").write_text(GOOD_XML)
    write_mask(folder / "01_01_0084_whole.tif", [WHOLE])
    # 0085: malformed XML (cut off mid-file)
    (folder / "01_01_0085.xml").write_text(GOOD_XML[: len(GOOD_XML) // 2])
    # 0086: an XML with layers but no region
    (folder / "01_01_0086.xml").write_text(paip_xml([annotation(1, 65535, [])]))
    # 0087: a mask of another slide's size
    (folder / "01_01_0087.xml").write_text(GOOD_XML)
    write_mask(folder / "01_01_0087_whole.tif", [[(1, 1), (50, 1), (50, 50)]], size=(1000, 800))
    write_mask(folder / "01_01_0087_viable.tif", [VIABLE_A])
    for case in ("01_01_0085", "01_01_0086"):
        write_mask(folder / f"{case}_whole.tif", [WHOLE])
        write_mask(folder / f"{case}_viable.tif", [VIABLE_A])
    return root


def test_tiff_header_reads_sizes_without_decoding(tmp_path, shared):
    head = tiff_header(shared("data", "histology_wsi_small", "small_HE.svs"))
    assert (head["width"], head["height"], head["samples_per_pixel"]) == (W, H, 3) and head["tile_width"] == 240
    write_mask(tmp_path / "m.tif", [WHOLE])
    m = tiff_header(tmp_path / "m.tif")
    assert (m["width"], m["height"], m["bits_per_sample"], m["compression"]) == (W, H, 8, 5)   # LZW
    (tmp_path / "x.tif").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(TiffError, match="not a TIFF"):
        tiff_header(tmp_path / "x.tif")


def test_aperio_regions_and_errors():
    regions, info = parse_regions(GOOD_XML.encode())
    assert len(regions) == 4 and info["skipped"] == 1 and info["microns_per_pixel"] == "0.499000"
    assert regions[0].layer.line_color == 65535 and regions[3].negative
    assert regions[1].area() == 600 * 600
    with pytest.raises(AnnotationError, match="malformed XML"):
        parse_regions(b"<Annotations><Annotation>")
    with pytest.raises(AnnotationError, match="root element <ASAP_Annotations>"):
        parse_regions(b"<ASAP_Annotations/>")
    with pytest.raises(AnnotationError, match="no region"):
        parse_regions(paip_xml([annotation(1, 65535, [])]).encode())


@pytest.mark.shared
def test_import_bad_cases_are_per_item_errors_and_rerun_resumes(paip_root, tmp_path):
    out = tmp_path / "data"
    s = importers.run("paip2019", paip_root, out)
    assert s["status"] == {"ok": 1, "error": 4} and s["slides"] == 5
    items = RawStore(out, "paip2019").latest()
    ok = items["01_01_0083"]
    assert ok.status == "ok" and ok.split == "train" and ok.modality == "SM" and ok.body_part == "liver"
    assert ok.patient_id == "01_01_0083" and ok.license == "PAIP-2019-challenge-terms" and "Kim YJ" in ok.attribution
    labels = sorted(b["label"] for b in ok.boxes)
    assert labels == ["viable_tumour", "viable_tumour", "viable_tumour_exclusion", "whole_tumour"]
    whole = next(b for b in ok.boxes if b["label"] == "whole_tumour")
    assert (whole["x"], whole["y"], whole["w"], whole["h"]) == (400, 500, 1500, 1900)
    assert whole["polygon"][:4] == [400, 500, 1800, 520] and whole["label_rule"] == "yellow line"
    masks = ok.meta["masks"]
    assert masks["viable"]["path"].endswith("ViableMask/01_01_0083_viable.tif") and os.path.isfile(masks["whole"]["path"])
    assert (masks["whole"]["width"], masks["whole"]["height"]) == (W, H)
    burden = ok.meta["viable_tumour_burden_xml"]
    assert 0 < burden < 1 and ok.meta["slide"] == {"width": W, "height": H}
    assert "viable tumour mask 01_01_0084_viable.tif not found" in items["01_01_0084"].error
    assert "malformed XML" in items["01_01_0085"].error
    assert "no region" in items["01_01_0086"].error
    assert "whole tumour mask is 1000x800 but the slide is 2220x2967" in items["01_01_0087"].error
    # the user adds the missing mask; a re-run keeps the finished slide and retries the others
    write_mask(paip_root / "Training_phase_1" / "Training_phase_1_001" / "01_01_0084_viable.tif", [VIABLE_A])
    s2 = importers.run("paip2019", paip_root, out)
    assert s2["skipped_done"] == 1 and s2["written"] == 4 and s2["status"] == {"ok": 2, "error": 3}


def test_no_slide_is_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"no \.svs slide"):
        importers.run("paip2019", tmp_path / "empty", tmp_path / "data")


@pytest.mark.shared
def test_curate_run_gives_boxes_polygons_and_mask_paths(paip_root, tmp_path):
    from curation.pipeline import CurateConfig, curate_run
    from manifests.io import read_manifest
    from medharvest.cli import main

    out = tmp_path / "data"
    assert main(["import", "paip2019", str(paip_root), "--out", str(out), "--quiet"]) == 0   # per-item errors are data
    curate_run(CurateConfig(ocr=False, labels=False, workers=1, thumbnail_size=512), [out], tmp_path / "cur")
    rows = {r["source_id"]: r for r in read_manifest(tmp_path / "cur").to_pylist()}
    rec = rows["01_01_0083"]
    assert rec["status"] == "ok" and rec["modality"] == "SM" and max(rec["width"], rec["height"]) == 512
    meta = json.loads(rec["meta"])
    scale = meta["image"]["thumbnail_scale"]
    assert scale == pytest.approx(512 / H)
    whole = next(b for b in rec["boxes"] if b["label"] == "whole_tumour")
    assert whole["x"] == pytest.approx(400 * scale, rel=1e-5) and whole["h"] == pytest.approx(1900 * scale, rel=1e-5)
    assert whole["polygon"][2] == pytest.approx(1800 * scale, rel=1e-5) and whole["label_source"] == "dataset"
    assert all(b["x"] + b["w"] <= rec["width"] + 1e-3 for b in rec["boxes"])     # boxes fit the thumbnail
    assert os.path.isfile(meta["masks"]["viable"]["path"]) and meta["masks"]["whole"]["path"].endswith("_whole.tif")
    assert rows["01_01_0085"]["status"] == "error" and "malformed XML" in rows["01_01_0085"]["error"]

"""PAIP 2019 (Liver Cancer Segmentation, MICCAI 2019), imported from a local copy of the challenge data.

What: H&E whole-slide images of hepatocellular carcinoma resections (Seoul National University
Hospital, SNUBH and SMG-SNU Boramae Medical Center, 2005 to June 2018), scanned by an Aperio AT2
(the dataset page says x20; one participant's README says 40x), annotated by pathologists. The
training set has 50 slides; per case: the slide ``<case>.svs``, the pathologists' Aperio ImageScope
XML ``<case>.xml``, and binary masks generated from it at slide resolution, ``<case>_whole.tif``
(whole tumour area: the single closed area lined in yellow) and ``<case>_viable.tif`` (viable
tumour), from which the challenge computes the viable tumour burden. No clinical data, no reports.
Case ids look like ``01_01_0083``; the archives unpack to ``Training_phase_1/Training_phase_1_NNN/``.

Files read: every ``*.svs`` under ROOT (any folder layout: the XML and the masks are found by
name anywhere under ROOT, since users often sort masks into their own folders). Only headers are
read at import: the slide's and the masks' TIFF headers (sizes must agree) and the XML.

Items: one per slide. source_id = patient_id = study_id = the case id (one resection slide per
patient); ``file`` = the slide (decoded by ``curate run`` through the whole-slide path: a
thumbnail record image); modality ``SM``, body_part ``liver``; ``split`` ``train`` for slides
under a ``Training_phase_*`` folder; no text (the challenge releases none). ``boxes``: one per
XML region in slide level-0 pixels with its outline in ``polygon`` (``curate run`` rescales both
to the thumbnail), ``label`` ``whole_tumour`` / ``viable_tumour`` (a cut-out region:
``<label>_exclusion``), ``label_source="dataset"``. A layer's label comes from its Name or
Description when it says "whole" / "viable" / "tumo(u)r", else from the challenge's colour
convention: the yellow layer is the whole tumour, and in a file that has a yellow layer every
other layer is viable tumour; each box keeps the rule used (``label_rule``). ``meta``: ``masks``
(``{"whole": {"path", "width", "height", "bits_per_sample", "compression"}, "viable": ...}``, the
absolute paths of the mask files, which are never copied), ``slide`` (level-0 size), ``layers``,
``polygon_area_px`` per label and ``viable_tumour_burden_xml`` (viable / whole area from the
polygons; the official burden is computed from the masks), ``archive_folder``.

Per-item errors (``status="error"``, the run goes on): no XML, malformed XML, XML without regions,
a missing or unreadable mask, a mask whose size differs from the slide's, a slide that is not a
TIFF/SVS file.

Licence / terms: PAIP 2019 challenge data terms: download needs a grand-challenge.org account and
joining the challenge (registration); use for research per the challenge's rules, no
redistribution; cite the challenge paper. https://paip2019.grand-challenge.org/

Citation: Kim YJ, Jang H, Lee K, et al. PAIP 2019: Liver cancer segmentation challenge. Medical
Image Analysis 2021;67:101854. Data: Pathology AI Platform (PAIP), Seoul National University Hospital.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from crawlers.importers.aperio import YELLOW, AnnotationError, Layer, label_regions, parse_regions
from crawlers.importers.base import FileIndex
from crawlers.importers.tiffinfo import TiffError, tiff_header
from manifests.errors import UsageError
from manifests.raw import RawItem

SOURCE = "paip2019"
LICENSE = "PAIP-2019-challenge-terms"
LICENSE_URL = "https://paip2019.grand-challenge.org/"
ATTRIBUTION = ("Pathology AI Platform (PAIP), Seoul National University Hospital; "
               "Kim YJ et al., PAIP 2019: Liver cancer segmentation challenge, Medical Image Analysis 2021")
MASKS = ("whole", "viable")
WHOLE, VIABLE = "whole_tumour", "viable_tumour"
_TRAINING = re.compile(r"training[_ ]?phase", re.I)


@dataclasses.dataclass
class Plan:
    root: Path
    index: FileIndex
    slides: list[Path]
    stats: dict = dataclasses.field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.slides)


def check(root: Path) -> Plan:
    index = FileIndex(root)
    slides = index.matching(r".+\.svs")
    if not slides:
        raise UsageError(f"no .svs slide under '{root}' (PAIP 2019: Training_phase_*/<case>.svs with <case>.xml, "
                         f"<case>_whole.tif and <case>_viable.tif)")
    return Plan(root, index, slides, stats={"slides": len(slides)})


def layer_label(layer: Layer, layers: list[Layer]) -> tuple[str, str]:
    """(label, rule) for an annotation layer (see the module docstring)."""
    words = f"{layer.name} {layer.description}".lower()
    if "viable" in words:
        return VIABLE, "layer name"
    if "whole" in words or re.search(r"tumou?r", words):
        return WHOLE, "layer name"
    if layer.line_color == YELLOW:
        return WHOLE, "yellow line"
    if any(other.line_color == YELLOW for other in layers):
        return VIABLE, "non-yellow layer beside a yellow one"
    return f"layer_{layer.id}", "unlabelled layer"


def _mask_info(plan: Plan, case: str, kind: str, slide_size: tuple[int, int] | None) -> tuple[dict | None, str | None]:
    path = plan.index.get(f"{case}_{kind}.tif", f"{case}_{kind}.tiff", f"{case}_{kind}.TIF")
    if path is None:
        return None, f"{kind} tumour mask {case}_{kind}.tif not found under {plan.root}"
    try:
        head = tiff_header(path)
    except (TiffError, OSError) as err:
        return None, f"{kind} tumour mask unreadable: {err}"
    info = {"path": str(path), **{k: head.get(k) for k in ("width", "height", "bits_per_sample", "compression")}}
    if slide_size and (head["width"], head["height"]) != slide_size:
        return info, (f"{kind} tumour mask is {head['width']}x{head['height']} but the slide is "
                      f"{slide_size[0]}x{slide_size[1]}")
    return info, None


def _areas(boxes: list[dict], regions) -> dict[str, float]:
    areas: Counter = Counter()
    for box, reg in zip(boxes, regions):
        base = box["label"].removesuffix("_exclusion")
        areas[base] += -reg.area() if reg.negative else reg.area()
    return {k: round(v, 1) for k, v in sorted(areas.items())}


def item_for(plan: Plan, slide: Path) -> RawItem:
    case = slide.stem
    problems: list[str] = []
    meta: dict = {"case_id": case, "archive_folder": slide.parent.name}
    slide_size = None
    try:
        head = tiff_header(slide)
        slide_size = (head["width"], head["height"])
        meta["slide"] = {"width": head["width"], "height": head["height"]}
    except (TiffError, OSError) as err:
        problems.append(f"slide: {err}")
    boxes: list[dict] = []
    xml = plan.index.get(f"{case}.xml", f"{case}.XML")
    if xml is None:
        problems.append(f"annotation {case}.xml not found under {plan.root}")
    else:
        meta["annotation_file"] = str(xml)
        try:
            regions, info = parse_regions(xml.read_bytes(), name=xml.name)
        except (AnnotationError, OSError) as err:
            problems.append(str(err))
        else:
            boxes = label_regions(regions, layer_label)
            for b in boxes:
                b["label_source"] = "dataset"
            meta["layers"] = [{"id": la.id, "name": la.name, "line_color": la.line_color,
                               "label": layer_label(la, info["layers"])[0]} for la in info["layers"]]
            meta["regions"] = dict(Counter(b["label"] for b in boxes))
            if info["skipped"]:
                meta["line_regions_skipped"] = info["skipped"]
            if info["microns_per_pixel"]:
                meta["annotation_microns_per_pixel"] = info["microns_per_pixel"]
            areas = _areas(boxes, regions)
            meta["polygon_area_px"] = areas
            if areas.get(WHOLE) and VIABLE in areas:
                meta["viable_tumour_burden_xml"] = round(areas[VIABLE] / areas[WHOLE], 4)
    masks = {}
    for kind in MASKS:
        info_, err = _mask_info(plan, case, kind, slide_size)
        if info_:
            masks[kind] = info_
        if err:
            problems.append(err)
    meta["masks"] = masks
    split = "train" if any(_TRAINING.match(p) for p in slide.relative_to(plan.root).parts[:-1]) else None
    return RawItem(
        source=SOURCE, source_id=case, file=str(slide), patient_id=case, study_id=case, modality="SM",
        body_part="liver", boxes=boxes, split=split, meta=meta, license=LICENSE, license_url=LICENSE_URL,
        attribution=ATTRIBUTION, source_url=LICENSE_URL,
        status="error" if problems else "ok", error="; ".join(problems) or None,
    )


def iter_items(plan: Plan) -> Iterator[RawItem]:
    for slide in plan.slides:
        yield item_for(plan, slide)

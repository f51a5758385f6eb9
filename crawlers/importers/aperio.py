"""Aperio ImageScope XML region annotations -> labelled polygons in slide level-0 pixels (pure parsing).

The format (``Annotations > Annotation > Regions > Region > Vertices > Vertex X/Y``): one
``Annotation`` per layer, with ``Id``, ``Name``, ``LineColor`` (an integer, 0xBBGGRR: 65535 is
yellow) and optionally an ``Attribute Name="Description"``; each ``Region`` has a ``Type``
(0 free-hand polygon, 1 rectangle, 2 ellipse: two corner vertices, others: rulers and arrows),
``NegativeROA="1"`` for an area cut out of the layer, and its vertices in level-0 pixels of the
slide. :func:`parse_regions` returns every region with at least an area; :func:`layer_label` is
given to it by the caller (a dataset decides what its layers mean).
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Callable

YELLOW = 65535          # ImageScope LineColor of a yellow line (0xBBGGRR)
RECTANGLE, ELLIPSE = 1, 2


class AnnotationError(ValueError):
    """The file is not Aperio XML, or it holds no usable region."""


@dataclasses.dataclass(frozen=True)
class Layer:
    id: str
    name: str
    description: str
    line_color: int | None


@dataclasses.dataclass(frozen=True)
class Region:
    layer: Layer
    id: str
    type: int
    negative: bool
    points: tuple[tuple[float, float], ...]      # outline (an ellipse: its two bounding corners)

    def bbox(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)

    def area(self) -> float:
        """Pixel area: shoelace for polygons, pi*a*b for ellipses."""
        if self.type == ELLIPSE:
            _, _, w, h = self.bbox()
            return 3.141592653589793 * w * h / 4
        pts = self.points
        s = sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1] for i in range(len(pts)))
        return abs(s) / 2


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v not in (None, "") else None
    except ValueError:
        return None


def parse_regions(data: bytes, *, name: str = "annotation") -> tuple[list[Region], dict]:
    """``(regions, info)``; info: ``microns_per_pixel``, ``skipped`` (line-like regions), ``layers``.

    Raises :class:`AnnotationError` for malformed XML, a root other than ``Annotations``, a vertex
    that is not a number, or a file with no region.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise AnnotationError(f"{name}: malformed XML ({err})") from err
    if root.tag != "Annotations":
        raise AnnotationError(f"{name}: not an Aperio annotation file (root element <{root.tag}>, expected <Annotations>)")
    regions: list[Region] = []
    skipped = 0
    layers = []
    for ann in root.findall("Annotation"):
        desc = ""
        for attr in ann.findall("./Attributes/Attribute"):
            if (attr.get("Name") or "").lower() == "description":
                desc = attr.get("Value") or ""
        layer = Layer(ann.get("Id") or str(len(layers) + 1), ann.get("Name") or "", desc, _int(ann.get("LineColor")))
        layers.append(layer)
        for reg in ann.findall("./Regions/Region"):
            pts = []
            for v in reg.findall("./Vertices/Vertex"):
                try:
                    pts.append((float(v.get("X")), float(v.get("Y"))))
                except (TypeError, ValueError):
                    raise AnnotationError(f"{name}: region {reg.get('Id')} of layer {layer.id} has a vertex "
                                          f"with X={v.get('X')!r} Y={v.get('Y')!r}") from None
            typ = _int(reg.get("Type")) or 0
            if (typ == ELLIPSE and len(pts) >= 2) or (typ != ELLIPSE and len(pts) >= 3):
                regions.append(Region(layer, reg.get("Id") or str(len(regions) + 1), typ, reg.get("NegativeROA") == "1",
                                      tuple(pts)))
            else:
                skipped += 1
    if not regions:
        raise AnnotationError(f"{name}: no region with an area (found {len(layers)} layer(s), {skipped} line-like region(s))")
    return regions, {"microns_per_pixel": root.get("MicronsPerPixel"), "skipped": skipped, "layers": layers}


def label_regions(regions: list[Region], layer_label: Callable[[Layer, list[Layer]], tuple[str, str]]) -> list[dict]:
    """Raw-item boxes ``{label, x, y, w, h, polygon, layer, negative, label_rule}`` (level-0 pixels).

    ``layer_label(layer, all_layers) -> (label, rule)``; a cut-out region is ``<label>_exclusion``.
    ``polygon`` is the flat outline ``[x0, y0, x1, y1, ...]`` (None for an ellipse).
    """
    layers = list({r.layer.id: r.layer for r in regions}.values())
    out = []
    for r in regions:
        label, rule = layer_label(r.layer, layers)
        x, y, w, h = r.bbox()
        out.append({
            "label": f"{label}_exclusion" if r.negative else label, "x": x, "y": y, "w": w, "h": h,
            "polygon": None if r.type == ELLIPSE else [c for p in r.points for c in p],
            "layer": r.layer.id, "region": r.id, "label_rule": rule,
        })
    return out

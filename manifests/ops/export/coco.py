"""``coco``: lesion boxes and burned-in identifier boxes as one COCO detection JSON.

* ``images``: every exported image (with or without boxes: images without lesions are the
  negatives a detector needs), ``file_name`` relative to the JSON's directory (images stay in the
  manifest's store), ``width``/``height``, ``license``; extra keys ``key``, ``split``, ``patient_id``.
* ``annotations``: the ``boxes`` column (lesions: ``{label, x, y, w, h}`` in image pixels) and the
  ``phi_flags`` found in the image (``where == "image"``: ``left, top, width, height``; the identifier
  text is never stored). ``bbox`` is COCO's ``[x, y, width, height]``; ``attributes`` keeps the label
  source, annotator, OCR confidence and whether the identifier was redacted. A lesion whose box has
  an outline (``boxes.polygon``, schema 2.1: flat ``[x0, y0, x1, y1, ...]`` in the same pixels) gets it
  as COCO's polygon ``segmentation`` (``[[x0, y0, ...]]``) and the polygon's area as ``area``; a plain
  box has no ``segmentation`` and ``area`` = w * h. An outline of fewer than 3 points or an odd number
  of values is not a polygon: the box is exported without it (counted as ``bad_polygons``).
* ``categories``: one per lesion label (``supercategory`` ``lesion``, findings in vocabulary order)
  and one per identifier kind (``identifier/<kind>``, ``supercategory`` ``identifier``).

``pycocotools.coco.COCO`` and ``torchvision.datasets.CocoDetection`` read it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.ops.export._common import ImageSource, relpath

IDENTIFIER = "identifier"
LESION = "lesion"


def _categories(rows: list[dict]) -> list[dict]:
    from manifests.labels import ALL_FINDINGS

    lesions = {b["label"] for r in rows for b in r["boxes"] or [] if b.get("label")}
    kinds = {p.get("kind") or "other" for r in rows for p in r["phi_flags"] or [] if _is_image_box(p)}
    ordered = [f for f in ALL_FINDINGS if f in lesions] + sorted(lesions - set(ALL_FINDINGS))
    cats = [{"id": i + 1, "name": n, "supercategory": LESION} for i, n in enumerate(ordered)]
    cats += [{"id": len(cats) + i + 1, "name": f"{IDENTIFIER}/{k}", "supercategory": IDENTIFIER}
             for i, k in enumerate(sorted(kinds))]
    return cats


def _is_image_box(flag: dict) -> bool:
    return flag.get("where") == "image" and None not in (flag.get("left"), flag.get("top"),
                                                          flag.get("width"), flag.get("height"))


def _size(row: dict, path: Path) -> tuple[int, int]:
    if row.get("width") and row.get("height"):
        return int(row["width"]), int(row["height"])
    from PIL import Image

    with Image.open(path) as im:
        return im.size


class CocoExport(Exporter):
    name = "coco"
    summary = "COCO detection JSON: lesion boxes and burned-in identifier boxes, image paths relative"
    opens_with = "pycocotools.coco.COCO(FILE), torchvision.datasets.CocoDetection"
    directory = False

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        from manifests.io import write_json_atomic

        images = ImageSource(ctx.images_root)
        table = images.exportable(table)
        cols = ["key", "image_path", "width", "height", "license", "license_url", "split", "patient_id",
                "retrieved_at", "boxes", "phi_flags"]
        rows = table.select(cols).to_pylist()
        cats = _categories(rows)
        cat_id = {c["name"]: c["id"] for c in cats}
        licences = {}
        for r in rows:
            if r["license"] and r["license"] not in licences:
                licences[r["license"]] = {"id": len(licences) + 1, "name": r["license"], "url": r["license_url"] or ""}
        doc_images, anns = [], []
        counts = {LESION: 0, IDENTIFIER: 0, "polygons": 0, "bad_polygons": 0}
        for i, r in enumerate(rows, start=1):
            path = images.path(r)
            w, h = _size(r, path)
            doc_images.append({
                "id": i, "file_name": relpath(path, out.parent), "width": w, "height": h,
                "license": licences[r["license"]]["id"] if r["license"] else 0,
                "date_captured": r["retrieved_at"].isoformat() if r["retrieved_at"] else "",
                "key": r["key"], "split": r["split"], "patient_id": r["patient_id"],
            })
            for b in r["boxes"] or []:
                if not b.get("label") or None in (b.get("x"), b.get("y"), b.get("w"), b.get("h")):
                    continue
                ann = _ann(len(anns) + 1, i, cat_id[b["label"]], (b["x"], b["y"], b["w"], b["h"]),
                           {"label_source": b.get("label_source"), "annotator": b.get("annotator")})
                if b.get("polygon"):
                    poly = _polygon(b["polygon"])
                    counts["polygons" if poly else "bad_polygons"] += 1
                    if poly:
                        ann.update(segmentation=[poly], area=_polygon_area(poly))
                anns.append(ann)
                counts[LESION] += 1
            for p in r["phi_flags"] or []:
                if _is_image_box(p):
                    anns.append(_ann(len(anns) + 1, i, cat_id[f"{IDENTIFIER}/{p.get('kind') or 'other'}"],
                                     (p["left"], p["top"], p["width"], p["height"]),
                                     {"confidence": p.get("confidence"), "redacted": p.get("redacted")}))
                    counts[IDENTIFIER] += 1
        doc = {
            "info": {"description": f"{ctx.name}: medharvest manifest export", "version": "1.0",
                     "year": datetime.now(timezone.utc).year, "contributor": "medharvest",
                     "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            "licenses": list(licences.values()),
            "images": doc_images,
            "annotations": anns,
            "categories": cats,
        }
        write_json_atomic(out, doc)
        return {"rows": len(doc_images), "skipped": dict(images.skipped), "boxes": counts,
                "categories": len(cats)}


def _ann(ann_id: int, image_id: int, category_id: int, box: tuple, attributes: dict) -> dict:
    x, y, w, h = (float(v) for v in box)
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [x, y, w, h],
            "area": w * h, "iscrowd": 0, "attributes": attributes}


def _polygon(flat) -> list[float] | None:
    """The outline as COCO's flat polygon, or None when it is not one (under 3 points, odd length)."""
    values = [float(v) for v in flat]
    return values if len(values) >= 6 and len(values) % 2 == 0 else None


def _polygon_area(poly: list[float]) -> float:
    """Shoelace area of a flat ``[x0, y0, x1, y1, ...]`` polygon."""
    xs, ys = poly[0::2], poly[1::2]
    return abs(sum(xs[k] * ys[k - 1] - xs[k - 1] * ys[k] for k in range(len(xs)))) / 2.0

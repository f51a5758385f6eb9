"""NIH ChestX-ray14 (ChestX-ray8), imported from a local copy.

What: 112,120 frontal chest radiographs (1024x1024 8-bit PNG) of 30,805 patients from the NIH
Clinical Center, with 14 findings + "No Finding" text-mined from the reports (">90% accurate",
not expert reads), 984 lesion boxes for 8 findings, and an official patient-wise train_val/test
split. Reports are not released.

Files read (anywhere under ROOT, any sub-folder):

* ``Data_Entry_2017*.csv`` (required): the original 2017 file (header ends with a trailing comma;
  ``OriginalImage[Width,Height]`` and ``OriginalImagePixelSpacing[x,y]`` each span two columns) or
  its 2020 revision (``Data_Entry_2017_v2020.csv``; preferred when both are present);
  a file holding only some rows (e.g. ``Data_Entry_2017_v2020_rows.csv``) works the same way.
* ``BBox_List_2017*.csv`` (optional): boxes ``{label, x, y, w, h}`` in pixels of the 1024 px
  images; ``Infiltrate`` becomes ``Infiltration``.
* ``train_val_list*.txt`` / ``test_list*.txt`` (optional): the official split; train_val -> ``train``
  (the dataset defines no validation set), test -> ``test``; without the lists ``split`` stays empty.
* ``google2019_nih-chest-xray-labels*.csv`` (optional): radiologist-adjudicated labels of a subset
  (Majkowska A. et al., Radiology 2020) for Fracture / Pneumothorax / Airspace opacity / Nodule or
  mass, kept as ``meta.google2019`` (YES/NO as published) beside the NLP-mined labels.
* the PNGs, found by file name (``images/``, ``images_001/images/``, ``NIH1000/train/0_normal/`` ...).

Labels (``label_source="dataset"``): the listed findings positive, the other NIH findings negative
(the dataset asserts absence), ``No Finding`` positive only when alone. patient_id is the 8-digit
Patient ID; study_id the image name without extension (one follow-up visit each); modality ``DX``
(projection radiographs; the dataset does not tell CR from DX). ``meta`` keeps the other columns
(Follow-up #, age, gender, original size and pixel spacing), the label file, the official list and
the image's folder relative to ROOT (e.g. ``NIH1000/train/0_normal``: a re-distributor's split).

Licence / terms: NIH Clinical Center: "The usage of the data set is unrestricted. But you should
provide the link to our original download site, acknowledge the NIH Clinical Center and provide a
citation to our CVPR 2017 paper." https://nihcc.app.box.com/v/ChestXray-NIHCC

Citation: Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale Chest
X-ray Database and Benchmarks on Weakly-Supervised Classification and Localization of Common
Thorax Diseases. CVPR 2017.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from crawlers.importers.base import FileIndex, iter_rows, read_header, require_columns
from manifests.errors import UsageError
from manifests.labels import canonical, parse_finding_list
from manifests.raw import RawItem

SOURCE = "chestxray14"
LICENSE = "NIH-CC-unrestricted-with-attribution"
LICENSE_URL = "https://nihcc.app.box.com/v/ChestXray-NIHCC"
ATTRIBUTION = ("NIH Clinical Center (https://nihcc.app.box.com/v/ChestXray-NIHCC); Wang X. et al., "
               "ChestX-ray8, CVPR 2017")
REQUIRED = ("Image Index", "Finding Labels", "Patient ID")
SPLITS = {"train_val": "train", "test": "test"}


@dataclasses.dataclass
class Plan:
    root: Path
    entry: Path
    columns: list[str]
    images: FileIndex
    bbox: Path | None
    lists: dict[str, Path]
    expert: Path | None
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def split_columns(header: list[str]) -> list[str]:
    """Data_Entry header -> one name per data column (the bracketed pairs split, trailing comma dropped)."""
    cols: list[str] = []
    i = 0
    while i < len(header):
        h = header[i].strip()
        nxt = header[i + 1].strip() if i + 1 < len(header) else ""
        if h.startswith("OriginalImage[") and nxt.endswith("]"):
            cols += ["OriginalImageWidth", "OriginalImageHeight"]
            i += 2
        elif h.startswith("OriginalImagePixelSpacing[") and nxt.endswith("]"):
            cols += ["OriginalImagePixelSpacingX", "OriginalImagePixelSpacingY"]
            i += 2
        elif h == "" and i == len(header) - 1:
            i += 1
        else:
            cols.append(h)
            i += 1
    return cols


def check(root: Path) -> Plan:
    images = FileIndex(root)
    entries = images.matching(r"Data_Entry_2017.*\.csv(\.gz)?")
    if not entries:
        raise UsageError(f"no Data_Entry_2017*.csv under '{root}' (the ChestX-ray14 label file is required)")
    entry = next((p for p in entries if "v2020" in p.name), entries[0])
    columns = split_columns(read_header(entry))
    require_columns(entry, columns, REQUIRED)
    lists = {}
    for key in SPLITS:
        found = images.matching(rf"{key}_list.*\.txt")
        if found:
            lists[key] = found[0]
    bbox = next(iter(images.matching(r"BBox_List_2017.*\.csv(\.gz)?")), None)
    expert = next(iter(images.matching(r"google2019_nih-chest-xray-labels.*\.csv(\.gz)?")), None)
    return Plan(root, entry, columns, images, bbox, lists, expert,
                stats={"label_file": entry.name, "bbox_file": bbox.name if bbox else None,
                       "split_files": sorted(p.name for p in lists.values())})


def _read_lists(plan: Plan) -> dict[str, str]:
    out = {}
    for key, path in plan.lists.items():
        for line in path.read_text(encoding="utf-8").split():
            out[line.strip()] = key
    return out


def _read_boxes(plan: Plan) -> tuple[dict[str, list[dict]], dict[str, list[str]]]:
    """Boxes per image, and per-image errors of bad box lines."""
    boxes: dict[str, list[dict]] = {}
    errors: dict[str, list[str]] = {}
    if plan.bbox is None:
        return boxes, errors
    cols = ["Image Index", "Finding Label", "x", "y", "w", "h"]
    for lineno, row, err, fields in iter_rows(plan.bbox, cols):
        name = fields[0] if fields else None
        if row is None:
            if len(fields) > len(cols) and all(f == "" for f in fields[len(cols):]):
                row = dict(zip(cols, fields))   # full-file copies pad rows with empty fields
            else:
                if name:
                    errors.setdefault(name, []).append(err)
                continue
        name = row["Image Index"]
        try:
            box = {"label": canonical(row["Finding Label"]),
                   **{k: float(row[k]) for k in ("x", "y", "w", "h")}}
        except ValueError as e:
            errors.setdefault(name, []).append(f"{plan.bbox.name} line {lineno}: {e}")
            continue
        boxes.setdefault(name, []).append(box)
    return boxes, errors


def _value(text: str):
    """A CSV cell as int, float or text (None when blank)."""
    v = text.strip()
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v or None


EXPERT_COLUMNS = ("Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass")


def _read_expert(plan: Plan) -> dict[str, dict]:
    if plan.expert is None:
        return {}
    cols = [c.strip() for c in read_header(plan.expert)]
    if "Image Index" not in cols:
        return {}
    cols = split_columns(cols)
    out = {}
    for _, row, _, _ in iter_rows(plan.expert, cols):
        if row is not None:
            out[row["Image Index"].strip()] = {k: row[k].strip() for k in (*EXPERT_COLUMNS, "Set Id") if k in row}
    return out


def iter_items(plan: Plan) -> Iterator[RawItem]:
    split_of = _read_lists(plan)
    expert = _read_expert(plan)
    boxes, box_errors = _read_boxes(plan)
    used_boxes = 0
    for lineno, row, err, fields in iter_rows(plan.entry, plan.columns):
        if row is None:
            sid = fields[0].strip() if fields and fields[0].strip() else f"{plan.entry.name}:line{lineno}"
            yield _item(sid, status="error", error=err)
            continue
        sid = row["Image Index"].strip()
        if not sid:
            yield _item(f"{plan.entry.name}:line{lineno}", status="error",
                        error=f"{plan.entry.name} line {lineno}: empty Image Index")
            continue
        problems: list[str] = []
        try:
            labels = parse_finding_list(row["Finding Labels"])
        except ValueError as e:
            labels = {}
            problems.append(f"bad Finding Labels {row['Finding Labels']!r}: {e}")
        pid_text = row["Patient ID"].strip()
        patient_id = f"{int(pid_text):08d}" if pid_text.isdigit() else None
        if patient_id is None:
            problems.append(f"bad Patient ID {pid_text!r}")
        path = plan.images.get(sid)
        if path is None:
            problems.append(f"image file {sid} not found under {plan.root}")
        problems += box_errors.get(sid, [])
        item_boxes = boxes.get(sid, [])
        used_boxes += len(item_boxes)
        official = split_of.get(sid)
        meta = {k: _value(row[k]) for k in plan.columns if k not in REQUIRED and k in row}
        meta.update({"label_file": plan.entry.name, "official_list": official})
        if path is not None:
            meta["folder"] = path.parent.relative_to(plan.root).as_posix()
        if sid in expert:
            meta["google2019"] = expert[sid]
        view = row.get("View Position", "").strip().upper() or None
        yield _item(
            sid, file=str(path) if path else None, patient_id=patient_id, study_id=Path(sid).stem,
            view=view, labels=labels, label_source="dataset" if labels else None, boxes=item_boxes,
            split=SPLITS.get(official) if official else None, meta=meta,
            status="error" if problems else "ok", error="; ".join(problems) or None,
        )
    plan.stats["boxes_attached"] = used_boxes
    plan.stats["boxes_total"] = sum(len(b) for b in boxes.values())


def _item(source_id: str, **kw) -> RawItem:
    return RawItem(source=SOURCE, source_id=source_id, license=LICENSE, license_url=LICENSE_URL,
                   attribution=ATTRIBUTION, source_url=LICENSE_URL, modality="DX", body_part="chest", **kw)

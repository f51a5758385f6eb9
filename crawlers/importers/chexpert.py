"""CheXpert (Stanford), imported from a local copy (full or ``-small``).

What: 224,316 chest radiographs (frontal and lateral) of 65,240 patients from Stanford Hospital,
with 14 observations labelled from the reports by the CheXpert labeler: ``1.0`` positive,
``0.0`` negative, ``-1.0`` uncertain, blank not mentioned. The validation set (234 images) is
labelled by radiologists. Reports are not released.

Files read: ``train.csv`` and/or ``valid.csv`` (at least one; directly in ROOT or one folder down,
e.g. ``ROOT/CheXpert-v1.0-small/train.csv``). Required columns: ``Path`` and the 14 observations;
``Sex``, ``Age``, ``Frontal/Lateral``, ``AP/PA`` go to ``meta`` when present. ``Path`` values
(``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``) are resolved against the
CSV's parent folder, the CSV's folder, and ROOT.

Items: source_id = the path below the dataset folder (``train/patient00001/study1/view1_frontal.jpg``),
patient_id ``patient00001``, study_id ``patient00001/study1``, view ``PA`` / ``AP`` (frontal, from
``AP/PA``), ``FRONTAL`` (AP/PA blank) or ``LATERAL``; split ``train`` (train.csv) or ``val`` (valid.csv);
labels (``label_source="dataset"``) in four states, uncertain kept as uncertain.

Licence / terms: Stanford University School of Medicine CheXpert Dataset Research Use Agreement
(registration; non-commercial research use; no redistribution).
https://stanfordmlgroup.github.io/competitions/chexpert/

Citation: Irvin J, Rajpurkar P, Ko M, et al. CheXpert: A Large Chest Radiograph Dataset with
Uncertainty Labels and Expert Comparison. AAAI 2019.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from crawlers.importers.base import iter_rows, read_header, require_columns
from manifests.errors import UsageError
from manifests.labels import CHEXPERT14, state_from_numeric
from manifests.raw import RawItem

SOURCE = "chexpert"
LICENSE = "Stanford-CheXpert-Research-Use-Agreement"
LICENSE_URL = "https://stanfordmlgroup.github.io/competitions/chexpert/"
ATTRIBUTION = "Stanford ML Group; Irvin J. et al., CheXpert, AAAI 2019"
CSVS = {"train.csv": "train", "valid.csv": "val"}
REQUIRED = ("Path",) + CHEXPERT14
_IDS = re.compile(r"(?:^|/)(patient\d+)/(study\d+)/")


@dataclasses.dataclass
class Plan:
    root: Path
    csvs: list[tuple[Path, list[str], str]]       # (path, columns, split)
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def check(root: Path) -> Plan:
    csvs = []
    for name, split in CSVS.items():
        found = [p for p in [root / name, *sorted(root.glob(f"*/{name}"))] if p.is_file()]
        if found:
            cols = [c.strip() for c in read_header(found[0])]
            require_columns(found[0], cols, REQUIRED)
            csvs.append((found[0], cols, split))
    if not csvs:
        raise UsageError(f"no train.csv or valid.csv in '{root}' or its sub-folders (CheXpert label files)")
    return Plan(root, csvs, stats={"label_files": [str(p.relative_to(root)) for p, _, _ in csvs]})


def _resolve(plan: Plan, csv_path: Path, rel: str) -> Path | None:
    parts = Path(rel).parts
    for cand in (csv_path.parent.parent / rel, csv_path.parent / Path(*parts[1:]) if len(parts) > 1 else None,
                 plan.root / rel):
        if cand is not None and cand.is_file():
            return cand
    return None


def _view(row: dict) -> str | None:
    fl = row.get("Frontal/Lateral", "").strip().lower()
    if fl == "lateral":
        return "LATERAL"
    appa = row.get("AP/PA", "").strip().upper()
    if appa:
        return appa
    return "FRONTAL" if fl == "frontal" else None


def iter_items(plan: Plan) -> Iterator[RawItem]:
    for csv_path, cols, split in plan.csvs:
        for lineno, row, err, fields in iter_rows(csv_path, cols, trailing_comma_ok=False):
            if row is None:
                sid = _sid(fields[0]) if fields and fields[0].strip() else f"{csv_path.name}:line{lineno}"
                yield _item(sid, split=split, status="error", error=err)
                continue
            rel = row["Path"].strip()
            sid = _sid(rel) if rel else f"{csv_path.name}:line{lineno}"
            problems: list[str] = []
            labels: dict[str, str] = {}
            for obs in CHEXPERT14:
                try:
                    labels[obs] = state_from_numeric(row[obs]).value
                except ValueError as e:
                    problems.append(f"{obs}: {e}")
            m = _IDS.search(rel)
            if not m:
                problems.append(f"Path {rel!r} has no patientNNNNN/studyN part")
            path = _resolve(plan, csv_path, rel) if rel else None
            if path is None:
                problems.append(f"image file {rel!r} not found (looked beside {csv_path.name} and in {plan.root})")
            meta = {k: (row[k].strip() or None) for k in cols if k not in REQUIRED}
            if meta.get("Age", None) and meta["Age"].isdigit():
                meta["Age"] = int(meta["Age"])
            meta["label_file"] = csv_path.name
            yield _item(
                sid, file=str(path) if path else None, split=split,
                patient_id=m.group(1) if m else None, study_id=f"{m.group(1)}/{m.group(2)}" if m else None,
                view=_view(row), labels=labels if len(labels) == len(CHEXPERT14) else {},
                label_source="dataset" if len(labels) == len(CHEXPERT14) else None, meta=meta,
                status="error" if problems else "ok", error="; ".join(problems) or None,
            )


def _sid(rel: str) -> str:
    """``CheXpert-v1.0-small/train/...`` -> ``train/...`` (the dataset folder name differs per copy)."""
    parts = rel.strip().split("/")
    return "/".join(parts[1:]) if len(parts) > 1 and parts[0].lower().startswith("chexpert") else rel.strip()


def _item(source_id: str, **kw) -> RawItem:
    return RawItem(source=SOURCE, source_id=source_id, license=LICENSE, license_url=LICENSE_URL,
                   attribution=ATTRIBUTION, source_url=LICENSE_URL, modality="DX", body_part="chest", **kw)

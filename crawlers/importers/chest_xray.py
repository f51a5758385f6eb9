"""Paediatric chest X-rays, Kermany et al. (Guangzhou Women and Children's Medical Center), in the
Kaggle / Mendeley ``chest_xray`` layout, imported from a local copy.

What: 5,856 anterior-posterior chest radiographs of children aged 1-5 (Mendeley Data v2: train
5,232, test 624; the Kaggle re-distribution ``paultimothymooney/chest-xray-pneumonia`` moves 16 of
train to a ``val`` folder), labelled NORMAL or PNEUMONIA by two expert physicians (a third checked
the test set); pneumonia images carry the bacterial / viral subtype in the file name.

Files read: ``<split>/<CLASS>/<image>`` anywhere under ROOT (``chest_xray/train/NORMAL/...``), split in
``train`` | ``val`` | ``test``, CLASS in ``NORMAL`` | ``PNEUMONIA`` (any case), images ``.jpeg`` / ``.jpg``
/ ``.png``. A ``__MACOSX`` copy (the Kaggle zip has one) is skipped. At least one such folder is
required (else :class:`UsageError` before any work).

Labels (``label_source="dataset"``): NORMAL -> ``No Finding`` positive, ``Pneumonia`` negative;
PNEUMONIA -> ``Pneumonia`` positive, ``No Finding`` negative; other findings not mentioned (the
dataset says nothing about them). ``meta.subtype``: ``bacteria`` | ``virus`` | ``normal`` from the
file name (``person1_bacteria_1.jpeg``, ``person1_virus_6.jpeg``, ``IM-0115-0001.jpeg``,
``NORMAL2-IM-0381-0001.jpeg``, ``IM-0429-0001-0002.jpeg``). patient_id: ``person<N>`` or the ``IM-<NNNN>`` stem (with its
``NORMAL2-`` prefix; numbering differs between the two naming schemes): several images per patient
for pneumonia, so split by patient. A file name that gives no patient (or contradicts its folder:
a ``_bacteria_`` file under NORMAL) is kept with ``status="error"``. The official split is kept in
``split`` (``val`` as given).

Licence / terms: CC BY 4.0. Kermany D., Zhang K., Goldbaum M., "Labeled Optical Coherence Tomography
(OCT) and Chest X-Ray Images for Classification", Mendeley Data v2, doi:10.17632/rscbjbr9sj.2.

Citation: Kermany D.S. et al. Identifying Medical Diagnoses and Treatable Diseases by Image-Based
Deep Learning. Cell 2018;172(5):1122-1131.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

from manifests.errors import UsageError
from manifests.raw import RawItem

SOURCE = "chest-xray-pediatric"
LICENSE = "CC-BY-4.0"
LICENSE_URL = "https://data.mendeley.com/datasets/rscbjbr9sj/2"
ATTRIBUTION = ("Kermany D., Zhang K., Goldbaum M., Labeled Optical Coherence Tomography (OCT) and Chest X-Ray Images "
               "for Classification, Mendeley Data v2, doi:10.17632/rscbjbr9sj.2; Kermany D.S. et al., Cell 2018")
SPLITS = ("train", "val", "test")
CLASSES = {"NORMAL": {"No Finding": "positive", "Pneumonia": "negative"},
           "PNEUMONIA": {"Pneumonia": "positive", "No Finding": "negative"}}
SUFFIXES = (".jpeg", ".jpg", ".png")
_PERSON = re.compile(r"(person\d+)_(bacteria|virus)(?:_\d+)+", re.I)
_IM = re.compile(r"((?:NORMAL\d*-)?IM-\d+)(?:-\d+)+", re.I)


@dataclasses.dataclass
class Plan:
    root: Path
    folders: list[tuple[str, str, Path]]       # (split, CLASS, folder)
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def check(root: Path) -> Plan:
    folders = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX")
        here = Path(dirpath)
        if here.name.lower() in SPLITS:
            for d in dirnames:
                if d.upper() in CLASSES:
                    folders.append((here.name.lower(), d.upper(), here / d))
    if not folders:
        raise UsageError(f"no <train|val|test>/<NORMAL|PNEUMONIA>/ folders under '{root}' (the Kaggle/Mendeley "
                         "chest_xray layout)")
    files = {f: sorted(p for p in f.iterdir() if p.suffix.lower() in SUFFIXES) for _, _, f in folders}
    total = sum(len(v) for v in files.values())
    plan = Plan(root, folders, stats={"folders": [f.relative_to(root).as_posix() for _, _, f in folders]}, total=total)
    plan.files = files  # type: ignore[attr-defined]
    return plan


def parse_name(stem: str) -> tuple[str | None, str | None]:
    """(patient key, subtype) from a file stem; (None, None) when the name follows neither scheme."""
    m = _PERSON.fullmatch(stem)
    if m:
        return m.group(1).lower(), m.group(2).lower()
    m = _IM.fullmatch(stem)
    if m:
        return m.group(1).upper(), "normal"
    return None, None


def iter_items(plan: Plan) -> Iterator[RawItem]:
    for split, cls, folder in plan.folders:
        for path in plan.files[folder]:  # type: ignore[attr-defined]
            sid = f"{split}/{cls}/{path.name}"
            patient, subtype = parse_name(path.stem)
            problems = []
            if patient is None:
                problems.append(f"file name {path.name!r} gives no patient id (expected personN_bacteria|virus_M or "
                                "IM-NNNN-NNNN)")
            elif (subtype == "normal") != (cls == "NORMAL"):
                problems.append(f"file name {path.name!r} ({subtype}) contradicts its folder {cls}")
            yield RawItem(source=SOURCE, source_id=sid, file=str(path), license=LICENSE, license_url=LICENSE_URL,
                          attribution=ATTRIBUTION, source_url=LICENSE_URL, modality="DX", body_part="chest", view="AP",
                          patient_id=f"{SOURCE}:{patient}" if patient else None, study_id=path.stem,
                          labels=dict(CLASSES[cls]), label_source="dataset", split=split,
                          meta={"subtype": subtype, "class_folder": cls,
                                "folder": folder.relative_to(plan.root).as_posix()},
                          status="error" if problems else "ok", error="; ".join(problems) or None)

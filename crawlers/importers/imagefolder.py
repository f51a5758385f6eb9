"""Any image dataset laid out one folder per class (the torchvision ``ImageFolder`` convention),
imported from a local copy.

What: whatever the folders hold; the layout carries only a class per image (and optionally a split).

Files read: ``ROOT/<class>/<image>`` or, with an official split, ``ROOT/<split>/<class>/<image>``
(split folder ``train`` | ``val`` | ``valid`` | ``validation`` | ``test``; ``valid``/``validation`` ->
``val``). Images: ``.png``, ``.jpg``, ``.jpeg``, ``.dcm``, ``.bmp``, ``.tif``/``.tiff``, found
recursively inside each class folder. Hidden files and folders are skipped. At least two class
folders are required (else :class:`UsageError` before any work).

Labels: a class folder whose name is a finding of the toolkit's vocabulary
(:func:`manifests.labels.canonical`: ``Pneumonia``, ``effusion``, ``Infiltrate``, ``normal`` -> ``No Finding`` ...)
becomes that finding positive, and the other matched classes of the dataset negative
(``label_source="dataset"``: one class per image, as the layout asserts). A folder name outside the
vocabulary (``COVID``, ``malignant``) is kept as the dataset's own label in ``meta.dataset_label``
(every image keeps it there), with no vocabulary label. An empty (0-byte) image file is an item with
``status="error"``. patient_id: none (the layout has none) —
the image's own id, so a patient-grouped split treats every image as its own patient; pass a
dataset-specific importer when patients matter.

Licence / terms: unknown (``license="unknown"``, ``GENERIC``): the layout names no source; the
dataset's own terms apply and must be checked by the user. Citation: the dataset's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from manifests.errors import UsageError
from manifests.labels import canonical, is_finding
from manifests.raw import RawItem

SOURCE = "imagefolder"
LICENSE = "unknown"
LICENSE_URL = ""         # GENERIC: no source to point at
ATTRIBUTION = ""
GENERIC = True           # a layout, not a dataset: licence and attribution are the user's to supply
SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".bmp", ".tif", ".tiff")
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@dataclasses.dataclass
class Plan:
    root: Path
    groups: list[tuple[str | None, str, Path]]      # (split, class folder name, folder)
    findings: dict[str, str | None]                  # class folder -> canonical finding or None
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def _dirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "__MACOSX")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def check(root: Path) -> Plan:
    top = _dirs(root)
    splits = [d for d in top if d.name.lower() in SPLIT_NAMES]
    if splits and len(splits) == len(top):
        groups = [(SPLIT_NAMES[s.name.lower()], c.name, c) for s in splits for c in _dirs(s)]
    else:
        groups = [(None, c.name, c) for c in top]
    names = sorted({g[1] for g in groups})
    if len(names) < 2:
        raise UsageError(f"'{root}' needs at least two class folders (ROOT/<class>/ or ROOT/<split>/<class>/); "
                         f"found {names or 'none'}")
    findings = {n: canonical(n) if is_finding(n) else None for n in names}
    total = sum(len(_images(f)) for _, _, f in groups)
    return Plan(root, groups, findings, total=total,
                stats={"classes": names, "mapped_to_vocabulary": {k: v for k, v in findings.items() if v},
                       "kept_as_dataset_labels": [k for k, v in findings.items() if v is None],
                       "splits": sorted({s for s, _, _ in groups if s})})


def iter_items(plan: Plan) -> Iterator[RawItem]:
    matched = sorted({v for v in plan.findings.values() if v})
    for split, name, folder in plan.groups:
        finding = plan.findings[name]
        labels = {f: ("positive" if f == finding else "negative") for f in matched} if finding else {}
        for path in _images(folder):
            sid = path.relative_to(plan.root).as_posix()
            empty = path.stat().st_size == 0
            yield RawItem(source=SOURCE, source_id=sid, file=str(path), license=LICENSE, patient_id=f"{SOURCE}:{sid}",
                          labels=labels, label_source="dataset" if labels else None, split=split,
                          meta={"dataset_label": name, "folder": folder.relative_to(plan.root).as_posix()},
                          status="error" if empty else "ok", error=f"empty image file {sid}" if empty else None)

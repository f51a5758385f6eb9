"""MedMNIST v2 (Yang J. et al., Scientific Data 2023): 2-D biomedical image sets as ``.npz`` files,
imported from a local copy; the official train / val / test splits are kept.

What: 12 standardised 2-D sets (chest X-ray, dermatoscopy, OCT, pathology, blood cells, CT organs,
...) pre-processed to small squares (28 px; MedMNIST+ also 64 / 128 / 224), each with an official
train / val / test split.

Files read: every ``*.npz`` under ROOT holding MedMNIST's arrays ``train_images``, ``train_labels``,
``val_images``, ``val_labels``, ``test_images``, ``test_labels`` (images uint8 (N, S, S) grey or
(N, S, S, 3) colour, S in 28 / 64 / 128 / 224; labels (N, 1) class index or (N, K) 0/1 for a
multi-label set). The set is named by the file name (``pneumoniamnist.npz``, ``chestmnist_64.npz``,
``pneumoniamnist_reconstructed.npz`` -> ``pneumoniamnist``). A file without those arrays stops the
run (:class:`UsageError`) before any work. The 3-D sets (``*mnist3d``) are not images: refused.

The arrays are not files, so each image is written once as a PNG into the raw store
(``<out>/raw/medmnist/files/<set>/<split>/<index>.png``; ``WRITES_FILES``) and the item refers to it.
source_id: ``<set>/<split>/<index>`` (the index in the official array: stable across re-runs).

Labels: the set's class names (:data:`LABELS`, MedMNIST's ``INFO``) go through the vocabulary
(:func:`manifests.labels.canonical`): PneumoniaMNIST ``normal`` / ``pneumonia`` -> ``No Finding`` /
``Pneumonia``; ChestMNIST's 14 -> the ChestX-ray14 findings (multi-label: each 0/1 becomes negative /
positive). Class names outside the vocabulary (BloodMNIST's ``basophil``) are kept as the dataset's
own label in ``meta.dataset_label`` with no vocabulary label. A set not in :data:`LABELS` keeps
``class_<k>``. A label value outside the set's classes is an item with ``status="error"``.
patient_id: none is published — the image's own id. MedMNIST images are derived and downsampled
(for PneumoniaMNIST: the Kermany et al. collection, centre-cropped, resized): never use a MedMNIST
set and its source collection as independent sets.

Licence / terms: CC BY 4.0 for PneumoniaMNIST, ChestMNIST and most sets (per set in :data:`LICENSES`;
MedMNIST's own pages state each). Citation: Yang J. et al., MedMNIST v2 — A large-scale lightweight
benchmark for 2D and 3D biomedical image classification. Scientific Data 2023;10:41.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from manifests.errors import UsageError
from manifests.labels import NIH14, canonical, is_finding
from manifests.raw import RawItem

SOURCE = "medmnist"
WRITES_FILES = True       # run_import gives the plan the raw store's files folder
SPLITS = ("train", "val", "test")
LICENSE = "CC-BY-4.0"      # most sets; per set in LICENSES
LICENSE_URL = "https://medmnist.com/"
ATTRIBUTION = "Yang J. et al., MedMNIST v2, Scientific Data 2023;10:41 (https://medmnist.com/)"
#: class names of the sets (MedMNIST v2 INFO); ChestMNIST is multi-label over the ChestX-ray14 findings.
LABELS: dict[str, tuple[str, ...]] = {
    "pneumoniamnist": ("normal", "pneumonia"),
    "chestmnist": NIH14,
    "breastmnist": ("malignant", "normal, benign"),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
}
MULTI_LABEL = {"chestmnist"}
LICENSES = {"pneumoniamnist": "CC-BY-4.0", "chestmnist": "CC0-1.0", "breastmnist": "CC-BY-4.0",
            "octmnist": "CC-BY-4.0"}
#: for sets whose images are chest radiographs: modality / body part
CHEST = {"pneumoniamnist", "chestmnist"}


@dataclasses.dataclass
class Plan:
    root: Path
    files: list[tuple[str, Path]]        # (set name, npz)
    files_dir: Path | None = None
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def set_name(path: Path) -> str:
    stem = path.stem.lower()
    m = re.match(r"([a-z]+mnist(?:3d)?)", stem)
    return m.group(1) if m else stem


def check(root: Path) -> Plan:
    import numpy as np

    files = []
    total = 0
    sizes = {}
    for p in sorted(root.rglob("*.npz")):
        name = set_name(p)
        if name.endswith("3d"):
            raise UsageError(f"'{p.name}' is a 3-D MedMNIST set ({name}); this importer reads the 2-D sets")
        try:
            with np.load(p, allow_pickle=False) as d:
                missing = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels") if f"{s}_{k}" not in d.files]
                if missing:
                    raise UsageError(f"'{p}' is not a MedMNIST file: it lacks {missing} (has {sorted(d.files)})")
                n = {s: int(d[f"{s}_labels"].shape[0]) for s in SPLITS}
                sizes[p.name] = {"set": name, **n, "image_shape": list(d["train_images"].shape[1:])}
        except (OSError, ValueError) as err:
            raise UsageError(f"'{p}': cannot read the .npz ({err})") from err
        files.append((name, p))
        total += sum(n.values())
    if not files:
        raise UsageError(f"no MedMNIST .npz files under '{root}'")
    return Plan(root, files, total=total, stats={"files": sizes})


def _names(name: str, k: int) -> list[str]:
    return list(LABELS.get(name, tuple(f"class_{i}" for i in range(k))))


def iter_items(plan: Plan) -> Iterator[RawItem]:
    import numpy as np
    from PIL import Image

    if plan.files_dir is None:
        raise RuntimeError("medmnist: run through crawlers.importers.run (the plan needs the store's files folder)")
    for name, path in plan.files:
        with np.load(path, allow_pickle=False) as d:
            arrays = {s: (d[f"{s}_images"], d[f"{s}_labels"]) for s in SPLITS}
        multi = name in MULTI_LABEL
        k = arrays["train"][1].shape[1] if multi else int(max(int(a[1].max()) for a in arrays.values() if len(a[1]))) + 1
        classes = _names(name, k)
        vocab = {c: canonical(c) if is_finding(c) else None for c in classes}
        mapped = sorted({v for v in vocab.values() if v})
        chest = name in CHEST
        for split, (images, labels) in arrays.items():
            folder = plan.files_dir / name / split
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(len(images)):
                sid = f"{name}/{split}/{i}"
                row = labels[i].reshape(-1)
                problems, lab, meta = [], {}, {"set": name, "npz": path.name, "index": i}
                if multi:
                    if row.shape[0] != len(classes) or not set(np.unique(row).tolist()) <= {0, 1}:
                        problems.append(f"label row {row.tolist()} is not {len(classes)} 0/1 values")
                    else:
                        lab = {vocab[c]: ("positive" if v else "negative") for c, v in zip(classes, row.tolist()) if vocab[c]}
                        meta["dataset_label"] = [c for c, v in zip(classes, row.tolist()) if v]
                else:
                    v = int(row[0])
                    if not 0 <= v < len(classes):
                        problems.append(f"label {v} outside the set's {len(classes)} classes")
                    else:
                        meta["dataset_label"] = classes[v]
                        if vocab[classes[v]]:
                            lab = {f: ("positive" if f == vocab[classes[v]] else "negative") for f in mapped}
                file = folder / f"{i:06d}.png"
                if not file.exists():
                    Image.fromarray(images[i]).save(file)
                yield RawItem(source=SOURCE, source_id=sid, file=str(file), license=LICENSES.get(name, LICENSE),
                              license_url=LICENSE_URL, attribution=ATTRIBUTION, source_url=LICENSE_URL,
                              modality="DX" if chest else None, body_part="chest" if chest else None,
                              patient_id=f"{SOURCE}:{sid}", labels=lab, label_source="dataset" if lab else None,
                              split=split, meta=meta, status="error" if problems else "ok",
                              error="; ".join(problems) or None)

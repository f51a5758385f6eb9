"""MIMIC-CXR-JPG (PhysioNet), imported from a local copy.

What: 377,110 JPEG chest radiographs of 227,827 studies (65,379 patients) from the Beth Israel
Deaconess Medical Center emergency department, 2011-2016, with 14 observations labelled from the
reports by two labelers (CheXpert and NegBio: ``1.0`` / ``0.0`` / ``-1.0`` / blank) and an official
train / validate / test split. The free-text reports belong to MIMIC-CXR (``files/pXX/pNNNNNNNN/sNNNNNNNN.txt``);
when they sit in the same ``files/`` tree they become the items' text.

Files read (ROOT = the folder holding ``files/`` and the CSVs; each CSV as ``.csv`` or ``.csv.gz``):

* ``mimic-cxr-2.0.0-metadata.csv`` (required; one row per image): ``dicom_id``, ``subject_id``,
  ``study_id`` required; ``ViewPosition`` -> view; every column also to ``meta``.
* ``mimic-cxr-2.0.0-chexpert.csv`` / ``-negbio.csv`` (optional; per study): item labels come from
  the CheXpert labeler (``meta.labeler``), or NegBio when only that file exists; the other labeler's
  states go to ``meta`` (``negbio`` / ``chexpert``). Uncertain (-1) is kept as uncertain.
* ``mimic-cxr-2.0.0-split.csv`` (optional): ``train`` / ``validate`` / ``test`` -> train / val / test.
* images ``files/p10/p10000032/s50414267/<dicom_id>.jpg``; reports ``files/p10/p10000032/s50414267.txt``.

Items: source_id = dicom_id, patient_id = subject_id, study_id = study_id, text_kind ``report``.

Licence / terms: PhysioNet Credentialed Health Data License 1.5.0 (credentialed access, data use
agreement, no re-identification, no sharing). https://physionet.org/content/mimic-cxr-jpg/2.0.0/

Citation: Johnson AEW, Pollard TJ, Greenbaum NR, et al. MIMIC-CXR-JPG, a large publicly available
database of labeled chest radiographs. arXiv:1901.07042 (2019); PhysioNet (Goldberger AL et al.,
Circulation 2000;101(23):e215-e220).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from crawlers.importers.base import open_text, iter_rows, read_header, require_columns
from manifests.errors import UsageError
from manifests.labels import CHEXPERT14, state_from_numeric
from manifests.raw import RawItem

SOURCE = "mimic-cxr-jpg"
LICENSE = "PhysioNet-Credentialed-Health-Data-1.5.0"
LICENSE_URL = "https://physionet.org/content/mimic-cxr-jpg/view-license/2.0.0/"
SOURCE_URL = "https://physionet.org/content/mimic-cxr-jpg/2.0.0/"
ATTRIBUTION = "Johnson A.E.W. et al., MIMIC-CXR-JPG (PhysioNet, 2019)"
SPLITS = {"train": "train", "validate": "val", "val": "val", "test": "test"}
KINDS = ("metadata", "chexpert", "negbio", "split")


@dataclasses.dataclass
class Plan:
    root: Path
    files: dict[str, Path]
    columns: dict[str, list[str]]
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def _find(root: Path, kind: str) -> Path | None:
    found = sorted(p for pat in (f"mimic-cxr-*{kind}*.csv", f"mimic-cxr-*{kind}*.csv.gz") for p in root.glob(pat))
    return found[0] if found else None


def check(root: Path) -> Plan:
    files = {k: p for k in KINDS if (p := _find(root, k)) is not None}
    if "metadata" not in files:
        raise UsageError(f"no mimic-cxr-*-metadata.csv(.gz) in '{root}' (required: one row per image)")
    columns = {k: [c.strip() for c in read_header(p)] for k, p in files.items()}
    require_columns(files["metadata"], columns["metadata"], ("dicom_id", "subject_id", "study_id"))
    for k in ("chexpert", "negbio"):
        if k in files:
            require_columns(files[k], columns[k], ("subject_id", "study_id") + CHEXPERT14)
    if "split" in files:
        require_columns(files["split"], columns["split"], ("dicom_id", "split"))
    return Plan(root, files, columns, stats={"files": {k: p.name for k, p in files.items()}})


def _labels_by_study(plan: Plan, kind: str) -> dict[str, dict[str, str] | str]:
    """study_id -> {observation: state}, or an error string for a bad row."""
    out: dict[str, dict[str, str] | str] = {}
    if kind not in plan.files:
        return out
    path = plan.files[kind]
    for lineno, row, err, fields in iter_rows(path, plan.columns[kind], trailing_comma_ok=False):
        if row is None:
            at = plan.columns[kind].index("study_id")
            if len(fields) > at:
                out[fields[at].strip()] = err
            continue
        try:
            out[row["study_id"].strip()] = {o: state_from_numeric(row[o]).value for o in CHEXPERT14}
        except ValueError as e:
            out[row["study_id"].strip()] = f"{path.name} line {lineno}: {e}"
    return out


def _splits(plan: Plan) -> dict[str, str]:
    if "split" not in plan.files:
        return {}
    return {row["dicom_id"].strip(): row["split"].strip()
            for _, row, _, _ in iter_rows(plan.files["split"], plan.columns["split"]) if row is not None}


def _read_report(path: Path) -> str | None:
    if not path.is_file():
        return None
    with open_text(path) as fh:
        return fh.read()


def iter_items(plan: Plan) -> Iterator[RawItem]:
    chexpert = _labels_by_study(plan, "chexpert")
    negbio = _labels_by_study(plan, "negbio")
    primary, primary_name = (chexpert, "chexpert") if "chexpert" in plan.files else (negbio, "negbio")
    other, other_name = (negbio, "negbio") if primary_name == "chexpert" else ({}, None)
    splits = _splits(plan)
    meta_path = plan.files["metadata"]
    reports_found = 0
    for lineno, row, err, fields in iter_rows(meta_path, plan.columns["metadata"], trailing_comma_ok=False):
        if row is None:
            sid = fields[0].strip() if fields and fields[0].strip() else f"{meta_path.name}:line{lineno}"
            yield _item(sid, status="error", error=err)
            continue
        dicom_id, subject, study = row["dicom_id"].strip(), row["subject_id"].strip(), row["study_id"].strip()
        sid = dicom_id or f"{meta_path.name}:line{lineno}"
        problems: list[str] = []
        if not (subject.isdigit() and study.isdigit() and dicom_id):
            problems.append(f"{meta_path.name} line {lineno}: bad ids dicom_id={dicom_id!r} subject_id={subject!r} study_id={study!r}")
            yield _item(sid, status="error", error="; ".join(problems))
            continue
        folder = plan.root / "files" / f"p{subject[:2]}" / f"p{subject}"
        image = folder / f"s{study}" / f"{dicom_id}.jpg"
        if not image.is_file():
            problems.append(f"image file {image.relative_to(plan.root)} not found under {plan.root}")
        labels: dict[str, str] = {}
        if primary_name in plan.files:
            got = primary.get(study)
            if isinstance(got, str):
                problems.append(got)
            elif got is not None:
                labels = got
        text = _read_report(folder / f"s{study}.txt")
        reports_found += text is not None
        meta = {k: (row[k].strip() or None) for k in plan.columns["metadata"] if k not in ("dicom_id", "subject_id", "study_id")}
        meta["labeler"] = primary_name if labels else None   # None: the study has no label row
        if other_name and isinstance(other.get(study), dict):
            meta[other_name] = other[study]
        official = splits.get(dicom_id)
        if official is not None and official not in SPLITS:
            problems.append(f"unknown split value {official!r}")
        yield _item(
            sid, file=str(image) if image.is_file() else None, patient_id=subject, study_id=study,
            view=(row.get("ViewPosition") or "").strip().upper() or None, labels=labels,
            label_source="dataset" if labels else None, split=SPLITS.get(official), text=text,
            text_kind="report" if text else None, meta=meta,
            status="error" if problems else "ok", error="; ".join(problems) or None,
        )
    plan.stats["reports_found"] = reports_found


def _item(source_id: str, **kw) -> RawItem:
    return RawItem(source=SOURCE, source_id=source_id, license=LICENSE, license_url=LICENSE_URL,
                   attribution=ATTRIBUTION, source_url=SOURCE_URL, modality="DX", body_part="chest", **kw)

"""MedPix 2.0 (CHILab, University of Palermo), imported from a local copy: MedPix teaching cases as JSON.

What: 671 MedPix® cases (NLM's peer-reviewed teaching files) with 2,050 CT and MR images, released
as JSON by MedPix 2.0: ``Case_topic.json`` (one element per case: ``U_id``, the images ``TAC`` (CT)
and ``MRI``, ``Case`` {Title, History, Exam, Findings, Differential Diagnosis, Case Diagnosis,
Diagnosis By, …}, ``Topic`` {Title, Disease Discussion, ACR Code, Category}) and
``Descriptions.json`` (one element per image: ``Type``, ``U_id``, ``image``, ``Location``,
``Location Category``, ``Description`` {ACR Codes, Age, Caption, Figure Part, Modality, Plane,
Sex}); the images are ``images/<image>.png``. This makes MedPix usable without its JavaScript
site (``medharvest crawl medpix`` renders that with Chromium; both write the same fields,
see :mod:`crawlers.medpix_case`).

Files read (anywhere under ROOT, e.g. ``ROOT/MedPix-2-0/``): ``Case_topic.json`` and
``Descriptions.json`` (or ``Description.json``) — both required, each a JSON array; the image
files by name (``<image>.png``/``.jpg``); ``images_overview.csv`` when present (Open-i image URL,
MedPix page). A file that is not a JSON array stops the run before any work.

Items: one per image (``source_id`` = the image name, ``MPX1009_synpic46283``); ``study_id`` =
``patient_id`` = the case (``MPX1009``: one MedPix case is one patient); ``text`` = the case's
``History``/``Exam``/``Findings``/``Diagnosis`` and the image's ``Caption`` as sections
(``text_kind="report"``; ``caption`` when the case is absent); the image's caption, modality, plane, ACR codes, figure part, location, age and sex, and the case's title,
differential, diagnosis basis and topic in ``meta``; ``modality`` CT/MR; ``body_part`` the
location. An image named by a case but without a description keeps the case text; a description
whose image file is absent, or an element that is not an object, is an item with ``status="error"``.
No labels: the diagnosis is text (the curation NER reads it).

Licence / terms: MedPix content is provided by the U.S. National Library of Medicine for education
and research with attribution to MedPix (not a Creative Commons licence); the MedPix 2.0 repository
states no licence of its own. https://medpix.nlm.nih.gov

Citation: MedPix®, U.S. National Library of Medicine. Siragusa I, Contino S, La Ciura M, Alicata R,
Pirrone R. MedPix 2.0: a comprehensive multimodal biomedical data set for advanced AI applications
with retrieval augmented generation and knowledge graphs. Data Science and Engineering 2025.
doi:10.1007/s41019-025-00297-8
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

from crawlers.importers.base import FileIndex, iter_rows, read_header
from crawlers.medpix_case import ATTRIBUTION as MEDPIX, CASE_KEYS, IMAGE_KEYS, TOPIC_KEYS, acr, case_text, clean, modality_code
from manifests.errors import UsageError
from manifests.raw import RawItem

SOURCE = "medpix2"
LICENSE = "MedPix-terms"
LICENSE_URL = "https://medpix.nlm.nih.gov/"
ATTRIBUTION = f"{MEDPIX}; MedPix 2.0, Siragusa I. et al., Data Science and Engineering 2025"
CASES = ("Case_topic.json",)
DESCRIPTIONS = ("Descriptions.json", "Description.json")
IMAGE_EXTS = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass
class Plan:
    root: Path
    cases: list
    descriptions: list
    index: FileIndex
    overview: dict[str, dict]
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def _find(index: FileIndex, names: tuple[str, ...], root: Path) -> Path:
    path = index.get(*names)
    if path is None:
        raise UsageError(f"no {' or '.join(names)} under '{root}' (the MedPix 2.0 JSON release)")
    return path


def _array(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"'{path}' is not readable JSON ({err})") from err
    if not isinstance(data, list):
        raise UsageError(f"'{path}' must hold a JSON array of MedPix 2.0 records, got {type(data).__name__}")
    return data


def _overview(index: FileIndex) -> dict[str, dict]:
    path = index.get("images_overview.csv")
    if path is None:
        return {}
    cols = [c.strip() for c in read_header(path)]
    if "ID_Image" not in cols:
        return {}
    return {row["ID_Image"].strip(): row for _, row, _, _ in iter_rows(path, cols) if row and row.get("ID_Image")}


def check(root: Path) -> Plan:
    index = FileIndex(root)
    cases_path, desc_path = _find(index, CASES, root), _find(index, DESCRIPTIONS, root)
    cases, descriptions = _array(cases_path), _array(desc_path)
    plan = Plan(root, cases, descriptions, index, _overview(index),
                stats={"case_file": str(cases_path.relative_to(root)), "description_file": str(desc_path.relative_to(root)),
                       "cases": len(cases), "descriptions": len(descriptions)})
    plan.total = len(descriptions)
    return plan


def _case_fields(case: dict) -> dict[str, str]:
    out = {}
    for src, dst in ((case.get("Case") or {}, CASE_KEYS), (case.get("Topic") or {}, TOPIC_KEYS)):
        if isinstance(src, dict):
            for k, key in dst.items():
                v = clean(src.get(k))
                if v:
                    out[key] = v
    return out


def _image_file(plan: Plan, name: str) -> Path | None:
    return plan.index.get(*(name + ext for ext in IMAGE_EXTS), name)


def iter_items(plan: Plan) -> Iterator[RawItem]:
    cases: dict[str, dict] = {}
    listed: dict[str, tuple[str, str]] = {}           # image -> (case id, CT|MR) from the case's TAC/MRI lists
    for n, case in enumerate(plan.cases):
        if not isinstance(case, dict) or not clean(case.get("U_id")):
            yield _item(f"Case_topic.json[{n}]", status="error", error=f"case element {n} is not an object with a U_id")
            continue
        uid = clean(case["U_id"])
        cases[uid] = _case_fields(case)
        for key, kind in (("TAC", "CT"), ("MRI", "MR")):
            for img in case.get(key) or []:
                if isinstance(img, str) and img.strip():
                    listed.setdefault(img.strip(), (uid, kind))
    described: set[str] = set()
    for n, desc in enumerate(plan.descriptions):
        if not isinstance(desc, dict) or not clean(desc.get("image")):
            yield _item(f"Descriptions.json[{n}]", status="error", error=f"description element {n} has no image name")
            continue
        name = clean(desc["image"])
        described.add(name)
        uid = clean(desc.get("U_id")) or listed.get(name, ("", ""))[0]
        yield _build(plan, name, uid, cases.get(uid), desc)
    for name, (uid, kind) in listed.items():     # named by a case, never described
        if name not in described:
            yield _build(plan, name, uid, cases.get(uid), {"Type": kind})


def _build(plan: Plan, name: str, uid: str, case: dict | None, desc: dict) -> RawItem:
    d = desc.get("Description") if isinstance(desc.get("Description"), dict) else {}
    image = {key: clean(d.get(k)) for k, key in IMAGE_KEYS.items() if clean(d.get(k))}
    problems = []
    path = _image_file(plan, name)
    if path is None:
        problems.append(f"image file {name}.png not found under {plan.root}")
    fields = case or {}
    text = case_text({**fields, "caption": image.get("caption", "")})
    age = clean(d.get("Age"))
    over = plan.overview.get(name, {})
    meta = {
        **{k: v for k, v in fields.items() if k not in ("history", "exam", "findings")},
        **image,
        "acr": acr(image.get("acr_codes")), "topic_acr": acr(fields.get("topic_acr_code")),
        "location": clean(desc.get("Location")), "location_category": clean(desc.get("Location Category")),
        "type": clean(desc.get("Type")), "age": int(age) if age.isdigit() else (age or None), "sex": clean(d.get("Sex")),
        "synpic": name.split("_", 1)[1] if "_" in name else None,
        "openi_url": clean(over.get("Img_Large")), "medpix_url": clean(over.get("URL_Article_image")),
        "case_known": case is not None,
    }
    return _item(
        name, file=str(path) if path else None, text=text or None,
        text_kind=("report" if case else "caption") if text else None,
        patient_id=uid or None, study_id=uid or None,
        modality=modality_code(image.get("modality_name"), clean(desc.get("Type"))),
        body_part=clean(desc.get("Location")) or None, view=(image.get("plane") or "").upper() or None,
        source_url=clean(over.get("URL_Article_image")) or LICENSE_URL,
        meta={k: v for k, v in meta.items() if v not in (None, "", {})},
        status="error" if problems else "ok", error="; ".join(problems) or None,
    )


def _item(source_id: str, **kw) -> RawItem:
    kw.setdefault("source_url", LICENSE_URL)
    return RawItem(source=SOURCE, source_id=source_id, license=LICENSE, license_url=LICENSE_URL,
                   attribution=ATTRIBUTION, **kw)

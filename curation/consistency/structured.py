"""Structured agreement: what the header / source says vs what the text says.

Four checks, each run only when both sides are known (the record's column and a mention in the
text): ``view`` (PA / AP / LATERAL; "frontal" matches PA and AP), ``modality`` (radiograph / CT /
MR / ultrasound / ...), ``body_part`` (chest / abdomen / head ...) and ``laterality`` (header
``ImageLaterality`` / ``laterality`` in ``meta``). A mismatch means *no* mention agrees with the
header: a report of "PA and lateral views" agrees with both images of its study.

A fifth check, ``demographics``, compares the patient's sex and age in the header / source metadata
(``PatientSex`` / ``PatientAge`` or ``patient_sex`` / ``patient_age`` in ``meta``) with a report's
"67-year-old woman": a report swapped between patients usually names someone else. Ages agree
within ``AGE_SLACK`` years (a birthday between study and report, an age rounded by the writer).

Mentions in sentences about other examinations are ignored: the comparison / indication / history
sections and sentences saying prior, previous, compared, recommended, follow-up ("CT recommended"
is not the exam being described).
"""

from __future__ import annotations

import json
import re

VIEW_PATTERNS = {
    "PA": r"\bp\.?a\.?\b(?!\s*(?:catheter|line))|\bposteroanterior\b|\bpostero-anterior\b",
    "AP": r"\ba\.?p\.?\b|\banteroposterior\b|\bantero-posterior\b|\bportable\b|\bsupine\b",
    "LATERAL": r"\blateral\s+(?:view|views|projection|radiograph|film|image|chest)\b|\band\s+lateral\b|"
               r"\blateral\s+and\s+(?:pa|ap|frontal)\b|\blat\b|\bchest\s+lateral\b|\blateral\s*$",
    "FRONTAL": r"\bfrontal\b",
}
MODALITY_FAMILIES = {
    "radiograph": ("CR", "DX", "RG", "XR", "DR"),
    "CT": ("CT",), "MR": ("MR",), "US": ("US",), "MG": ("MG",), "PET": ("PT", "NM"), "SM": ("SM",),
}
MODALITY_PATTERNS = {
    "radiograph": r"\bradiograph\w*\b|\bx-?rays?\b|\bcxr\b|\bfilms?\b|\bradiography\b",
    "CT": r"\bct\b|\bcta\b|\bcomputed tomography\b|\bcat scan\b",
    "MR": r"\bmri\b|\bmr\b|\bmagnetic resonance\b",
    "US": r"\bultrasound\b|\bsonograph\w*\b|\bsonogram\b",
    "MG": r"\bmammogra\w+\b",
    "PET": r"\bpet\b|\bnuclear medicine\b|\bspect\b",
    "SM": r"\bslide\b|\bhistolog\w+\b|\bh&e\b",
}
BODY_PARTS = {
    "chest": r"chest|thorax|thoracic|lungs?",
    "abdomen": r"abdomen|abdominal|pelvis|pelvic|abdomen and pelvis",
    "head": r"head|brain|skull|cranial|cranium",
    "spine": r"(?:cervical|lumbar|thoracic)\s+spine|spine",
    "knee": r"knee", "hand": r"hand|wrist", "foot": r"foot|ankle", "shoulder": r"shoulder", "hip": r"hip",
    "breast": r"breast", "neck": r"neck",
}
BODY_ALIASES = {"thorax": "chest", "lung": "chest", "brain": "head", "pelvis": "abdomen", "abdomen": "abdomen"}
_EXAM = r"(?:ct|cta|mri|mr|x-?ray|radiograph|radiography|film|ultrasound|sonogram|examination|exam|study|views?|scan)"
_BODY_ALT = "|".join(f"(?P<{k}>{v})" for k, v in BODY_PARTS.items())
EXAM_BODY = re.compile(rf"\b{_EXAM}\s*:?\s+(?:of\s+the\s+)?(?:{_BODY_ALT})\b|\b(?:{_BODY_ALT.replace('?P<', '?P<b_')})\s+{_EXAM}\b",
                       re.I)
OTHER_EXAM = re.compile(r"\b(prior|previous|compared?|comparison|recommend\w*|follow-?up|further evaluation|"
                        r"consider|correlat\w+|history)\b", re.I)
SKIP_SECTIONS = re.compile(r"^\s*(comparison|indication|history|clinical history|reason for exam)\s*:", re.I)


def exam_sentences(text: str) -> list[str]:
    """Sentences of ``text`` that describe this examination (see the module docstring)."""
    out = []
    for line in re.split(r"\n\s*\n|\n(?=[A-Z][A-Z ]{2,}:)", text):
        if SKIP_SECTIONS.match(line):
            continue
        for sent in re.split(r"(?<=[.!?;])\s+", line):
            if sent.strip() and not OTHER_EXAM.search(sent):
                out.append(sent)
    return out


def text_mentions(text: str) -> dict[str, set[str]]:
    """``{"view": {...}, "modality": {...}, "body_part": {...}, "laterality": {...}}`` found in the text."""
    views: set[str] = set()
    mods: set[str] = set()
    parts: set[str] = set()
    sides: set[str] = set()
    for sent in exam_sentences(text):
        low = sent.lower()
        for v, pat in VIEW_PATTERNS.items():
            if re.search(pat, low):
                views.add(v)
        for m, pat in MODALITY_PATTERNS.items():
            if re.search(pat, low):
                mods.add(m)
        for m in EXAM_BODY.finditer(sent):
            for name, val in m.groupdict().items():
                if val:
                    parts.add(name[2:] if name.startswith("b_") else name)
        for side in ("left", "right", "bilateral"):
            if re.search(rf"\b{side}\s+(?:{'|'.join(v for k, v in BODY_PARTS.items() if k != 'chest')})\b", low):
                sides.add(side)
    return {"view": views, "modality": mods, "body_part": parts, "laterality": sides}


AGE_SLACK = 1
DEMOGRAPHICS = re.compile(r"\b(\d{1,3})[- ]?(?:year|yr)s?[- ]old\s+(man|woman|male|female|boy|girl|gentleman|lady)\b|"
                          r"\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)\s*(m|f|male|female|man|woman)\b", re.I)
SEX_WORDS = {"man": "M", "male": "M", "boy": "M", "gentleman": "M", "m": "M",
             "woman": "F", "female": "F", "girl": "F", "lady": "F", "f": "F"}


def _meta(rec: dict) -> dict:
    try:
        meta = json.loads(rec.get("meta") or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def header_demographics(rec: dict) -> tuple[str | None, int | None]:
    """(sex 'M'/'F', age in years) from the record's metadata, where known."""
    meta = _meta(rec)
    sex = str(meta.get("patient_sex") or meta.get("PatientSex") or "").upper()[:1] or None
    sex = sex if sex in ("M", "F") else None
    age = meta.get("patient_age", meta.get("PatientAge"))
    if isinstance(age, str):  # DICOM AS: '067Y'
        m = re.fullmatch(r"0*(\d{1,3})Y?", age.strip().upper())
        age = int(m.group(1)) if m else None
    return sex, age if isinstance(age, int) and not isinstance(age, bool) else None


def text_demographics(text: str) -> list[tuple[str, int]]:
    out = []
    for m in DEMOGRAPHICS.finditer(text):
        age, word = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        out.append((SEX_WORDS[word.lower()], int(age)))
    return out


def header_laterality(rec: dict) -> str | None:
    meta = _meta(rec)
    if not meta:
        return None
    lat = str(meta.get("laterality") or meta.get("ImageLaterality") or "").upper()
    return {"L": "left", "R": "right", "B": "bilateral", "LEFT": "left", "RIGHT": "right"}.get(lat)


def modality_family(code: str | None) -> str | None:
    code = (code or "").upper()
    return next((fam for fam, codes in MODALITY_FAMILIES.items() if code in codes), None)


def structured_checks(rec: dict, text: str) -> tuple[list[str], list[str], dict]:
    """``(checks_run, flags, details)`` for one record and its text."""
    found = text_mentions(text)
    checks, flags, details = [], [], {}
    view = (rec.get("view") or "").upper() or None
    if view and found["view"]:
        checks.append("view")
        ok = view in found["view"] or (view in ("PA", "AP") and "FRONTAL" in found["view"])
        details["view"] = {"header": view, "text": sorted(found["view"])}
        if not ok:
            flags.append("view_mismatch")
    fam = modality_family(rec.get("modality"))
    if fam and found["modality"]:
        checks.append("modality")
        details["modality"] = {"header": rec.get("modality"), "text": sorted(found["modality"])}
        if fam not in found["modality"]:
            flags.append("modality_mismatch")
    part = (rec.get("body_part") or "").lower() or None
    part = BODY_ALIASES.get(part, part)
    if part in BODY_PARTS and found["body_part"]:
        checks.append("body_part")
        details["body_part"] = {"header": part, "text": sorted(found["body_part"])}
        if part not in found["body_part"]:
            flags.append("body_part_mismatch")
    lat = header_laterality(rec)
    if lat and found["laterality"]:
        checks.append("laterality")
        details["laterality"] = {"header": lat, "text": sorted(found["laterality"])}
        if lat not in found["laterality"] and "bilateral" not in found["laterality"]:
            flags.append("laterality_mismatch")
    sex, age = header_demographics(rec)
    said = text_demographics(text)
    if said and (sex or age is not None):
        checks.append("demographics")
        details["demographics"] = {"header": {"sex": sex, "age": age}, "text": [{"sex": s, "age": a} for s, a in said]}
        if not any((sex is None or s == sex) and (age is None or abs(a - age) <= AGE_SLACK) for s, a in said):
            flags.append("demographics_mismatch")
    return checks, flags, details

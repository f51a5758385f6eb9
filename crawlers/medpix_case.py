"""What a MedPix case holds, shared by the MedPix site crawler (:mod:`crawlers.medpix`) and the
MedPix 2.0 JSON importer (:mod:`crawlers.importers.medpix2`), so both write the same text and meta.

Taken from the MedPix 2.0 release (real MedPix content): a case has ``Title``, ``History``,
``Exam``, ``Findings``, ``Differential Diagnosis``, ``Case Diagnosis``, ``Diagnosis By`` and, for
some cases, ``Treatment & Follow Up`` and ``Discussion``; its topic has ``Title``, ``Disease
Discussion``, ``ACR Code`` and ``Category``; each image has ``Caption``, ``Modality`` ("CT -
noncontrast", "MR - T2 weighted"…), ``Plane``, ``ACR Codes``, ``Figure Part``, ``Location`` and
``Location Category``, plus the patient's ``Age`` and ``Sex``. "N/A" means absent.
"""

from __future__ import annotations

import re

#: (key in our meta, label in the text) of the case sections that make the item's report text.
TEXT_SECTIONS = (("history", "History"), ("exam", "Exam"), ("findings", "Findings"), ("diagnosis", "Diagnosis"),
                 ("caption", "Caption"))
#: MedPix 2.0 JSON ``Case`` keys -> our keys (the site shows the same headings).
CASE_KEYS = {"Title": "title", "History": "history", "Exam": "exam", "Findings": "findings",
             "Differential Diagnosis": "differential", "Case Diagnosis": "diagnosis", "Diagnosis By": "diagnosis_by",
             "Treatment & Follow Up": "treatment", "Discussion": "discussion"}
TOPIC_KEYS = {"Title": "topic_title", "Disease Discussion": "disease_discussion", "ACR Code": "topic_acr_code",
              "Category": "category"}
IMAGE_KEYS = {"Caption": "caption", "Modality": "modality_name", "Plane": "plane", "ACR Codes": "acr_codes",
              "Figure Part": "figure_part"}
ATTRIBUTION = "MedPix®, U.S. National Library of Medicine, https://medpix.nlm.nih.gov"


def clean(value) -> str:
    """A field's text with runs of blanks folded (line breaks kept); "N/A" and non-text -> ""."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = "\n".join(" ".join(line.split()) for line in str(value).replace("\r", "").split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return "" if text.upper() in ("N/A", "NA", "NONE", "-") else text


def case_text(fields: dict[str, str]) -> str:
    """``History: …\\nExam: …\\nFindings: …\\nDiagnosis: …`` from the sections present."""
    return "\n".join(f"{label}: {' '.join(fields[key].split())}" for key, label in TEXT_SECTIONS if fields.get(key))


def modality_code(name: str | None, fallback: str | None = None) -> str | None:
    """``"CT - noncontrast"`` -> ``CT``; ``"MR - T2 weighted"``/``"MRI"`` -> ``MR``; plain film -> ``DX``."""
    s = (name or fallback or "").strip().upper()
    if s.startswith(("CT", "TAC")):
        return "CT"
    if s.startswith(("MR", "MRI")):
        return "MR"
    if s.startswith(("XR", "CR", "PLAIN", "X-RAY")):
        return "DX"
    if s.startswith(("US", "ULTRASOUND")):
        return "US"
    if s.startswith(("NM", "PET")):
        return "NM"
    return s.split(" ")[0] if s else None


def acr(code: str | None) -> dict:
    """An ACR index code ``"8.2"`` -> ``{"code": "8.2", "anatomy": "8", "pathology": "2"}`` (``-1``: unknown)."""
    c = clean(code)
    if not c:
        return {}
    anatomy, _, pathology = c.partition(".")
    out = {"code": c}
    if anatomy and anatomy != "-1":
        out["anatomy"] = anatomy
    if pathology and pathology != "-1":
        out["pathology"] = pathology
    return out

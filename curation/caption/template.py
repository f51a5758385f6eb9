"""``template``: a factual caption from what the record already knows (no weights, deterministic).

Modality, view, body part and laterality (DICOM header or source metadata) and the record's
four-state labels with their label source, e.g.::

    PA chest radiograph, left. Labels from the report: cardiomegaly; atelectasis.
    Possible pleural effusion. No pneumothorax.

Positive findings first, then uncertain ("Possible ..."), then negative ("No ..."), one sentence
per state, so the report NER reads every state back exactly (tested). The label source named is
the most trusted one present (:data:`manifests.schema.LABEL_PREFERENCE`). A record with neither
metadata nor labels still gets "Medical image." -- the caption never invents a finding.
"""

from __future__ import annotations

import json

from curation.caption.base import CaptionFailure, CaptionInput, Captioner

MODALITY_NOUN = {
    "CR": "radiograph", "DX": "radiograph", "RG": "radiograph", "XR": "radiograph", "CT": "CT image",
    "MR": "MR image", "US": "ultrasound image", "MG": "mammogram", "PT": "PET image", "NM": "nuclear medicine image",
    "SM": "whole-slide image", "OT": "image", "XA": "angiogram",
}
SOURCE_PHRASE = {"ner": "the report", "dataset": "the dataset", "human": "a human annotator", "model": "a model",
                 "synthetic": "the generator"}
#: Finding names as a radiologist writes them (names not listed: lower case, '_' -> ' ').
FINDING_WORDS = {"Effusion": "pleural effusion", "Pleural_Thickening": "pleural thickening",
                 "Pleural Effusion": "pleural effusion", "Lung Opacity": "lung opacity",
                 "Enlarged Cardiomediastinum": "enlarged cardiomediastinum", "Support Devices": "support devices",
                 "Pleural Other": "other pleural abnormality", "Lung Lesion": "lung lesion"}
NORMAL_SENTENCE = "No acute cardiopulmonary abnormality."


def _word(finding: str) -> str:
    return FINDING_WORDS.get(finding, finding.replace("_", " ").lower())


def _laterality(rec: dict) -> str | None:
    try:
        meta = json.loads(rec.get("meta") or "{}")
    except (TypeError, json.JSONDecodeError):
        return None
    lat = str(meta.get("laterality") or meta.get("ImageLaterality") or "").upper()
    return {"L": "left", "R": "right", "B": "bilateral", "LEFT": "left", "RIGHT": "right"}.get(lat)


def describe_image(rec: dict) -> str:
    """'PA chest radiograph, left.' from the structured columns (or 'Medical image.')."""
    noun = MODALITY_NOUN.get(str(rec.get("modality") or "").upper(), "image")
    words = [str(rec["view"]).upper() if rec.get("view") else None,
             str(rec["body_part"]).lower() if rec.get("body_part") else None, noun]
    head = " ".join(w for w in words if w)
    if head == "image":
        head = "medical image"
    lat = _laterality(rec)
    head = head[0].upper() + head[1:]
    return f"{head}, {lat}." if lat else f"{head}."


def describe_labels(labels: list[dict]) -> str:
    from manifests.labels import NO_FINDING
    from manifests.schema import LABEL_PREFERENCE, primary_labels

    states = primary_labels(labels)
    if not states:
        return ""
    present = {lab.get("label_source") for lab in labels}
    source = next((s for s in LABEL_PREFERENCE if s in present), None)
    intro = f"Labels from {SOURCE_PHRASE.get(source, source or 'the record')}: "
    def words(state: str) -> list[str]:  # one word per finding, both vocabularies folded ("pleural effusion" once)
        return list(dict.fromkeys(_word(f) for f, s in states.items() if s == state and f != NO_FINDING))

    pos, unc, neg = words("positive"), words("uncertain"), words("negative")
    parts = []
    if pos:
        parts.append(intro + "; ".join(pos) + ".")
    elif states.get(NO_FINDING) == "positive" and not unc:
        parts.append(intro + NORMAL_SENTENCE[0].lower() + NORMAL_SENTENCE[1:])
    else:
        parts.append(intro.rstrip(": ") + ".")
    parts.extend(f"Possible {w}." for w in unc)
    if neg:
        parts.append("No " + ", no ".join(neg) + ".")
    return " ".join(parts)


class TemplateCaptioner(Captioner):
    name = "template"
    prompt_version = "template/1"

    def caption_batch(self, items: list[CaptionInput]) -> list[str | CaptionFailure]:
        out: list[str | CaptionFailure] = []
        for it in items:
            labels = describe_labels(list(it.record.get("labels") or []))
            out.append(" ".join(p for p in (describe_image(it.record), labels) if p))
        return out

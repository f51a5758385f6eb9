"""The text half of ``curate run`` and the assembly of one manifest record.

Text: ``item.text`` or ``meta["text_file"]`` (strict UTF-8), identifier scrub then NER labels
(:mod:`curation.text`); a blank report or undecodable text is the record's error. Records: raw
item fields + image columns (:mod:`curation.jobs`) + text columns; dataset labels keep
``label_source="dataset"`` (names mapped by :func:`manifests.labels.canonical`), NER labels are
``"ner"`` (ChestX-ray14 names + the CheXpert-only observations).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from manifests.errors import UsageError
from manifests.paths import OutsideRoot
from manifests.raw import RawItem, RawStore

from curation.config import STAGE_VERSION

if TYPE_CHECKING:
    from curation.config import CurateConfig



class TextError(ValueError):
    """The item's text cannot be used (not UTF-8, empty report)."""


def read_text(item: RawItem, store: RawStore) -> str | None:
    """The item's text: ``item.text``, or the file named by ``meta["text_file"]``; strict UTF-8."""
    text = item.text
    tf = (item.meta or {}).get("text_file")
    if text is None and tf:
        try:
            p = store.resolve(item, tf)
        except OutsideRoot as err:
            raise TextError(f"text file: {err}") from None
        try:
            data = p.read_bytes()
        except OSError as err:
            raise TextError(f"cannot read text file '{tf}': {err.strerror or err}") from err
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise TextError(f"text file '{tf}' is not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})") from err
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise TextError(f"text is not valid UTF-8 (undecodable character at position {err.start})") from err
    if not text.strip():
        raise TextError(f"empty {item.text_kind or 'text'}")
    return text.replace("\r\n", "\n")


def text_columns(texts: list[str | None], cfg: CurateConfig) -> list[dict]:
    """Scrubbed text, phi flags, entities and NER labels for a batch of texts (None: no text)."""
    from manifests.labels import NIH15
    from manifests.schema import labels_list

    out: list[dict] = [{"text": t, "phi_flags": [], "entities": [], "labels": []} for t in texts]
    idx = [i for i, t in enumerate(texts) if t]
    if not idx:
        return out
    if cfg.scrub:
        from curation.text import scrub_text

        for i in idx:
            scrubbed, flags = scrub_text(texts[i])
            out[i]["text"] = scrubbed
            out[i]["phi_flags"] = [{**f, "where": "text"} for f in flags]
    if cfg.labels:
        from curation.text import label_reports

        for i, rl in zip(idx, label_reports([out[i]["text"] for i in idx])):
            out[i]["entities"] = list(rl.entities)
            chexpert_only = {k: v for k, v in rl.chexpert.items() if k not in NIH15}
            out[i]["labels"] = labels_list(dict(rl.nih), "ner") + labels_list(chexpert_only, "ner")
    return out


def _canonical_labels(labels: dict[str, str]) -> dict[str, str]:
    from manifests.labels import canonical

    out = {}
    for name, state in (labels or {}).items():
        try:
            out[canonical(name)] = state
        except UsageError:
            out[name] = state  # kept as the source spelled it; `manifest validate` reports it
    return out


def base_record(item: RawItem) -> dict:
    from manifests.schema import labels_list

    boxes = [
        {"label": b.get("label"), "x": b.get("x"), "y": b.get("y"), "w": b.get("w"), "h": b.get("h"),
         "label_source": b.get("label_source") or "dataset", "annotator": b.get("annotator"),
         "polygon": b.get("polygon")}
        for b in item.boxes or []
    ]
    return {
        "key": item.key, "source": item.source, "source_id": item.source_id, "source_url": item.source_url,
        "retrieved_at": item.retrieved_at, "license": item.license, "license_url": item.license_url,
        "attribution": item.attribution, "provenance_required": item.provenance_required, "modality": item.modality, "body_part": item.body_part, "view": item.view,
        "patient_id": item.patient_id, "study_id": item.study_id, "text_kind": item.text_kind,
        "labels": labels_list(_canonical_labels(item.labels), item.label_source or "dataset"),
        "boxes": boxes, "split": item.split, "synthetic": False, "status": "ok", "error": None,
        "stage_version": STAGE_VERSION, "phi_flags": [], "quality_flags": [], "entities": [],
    }


#: Decoded formats whose record image is a thumbnail of the raw file (boxes arrive in level-0 pixels).
THUMBNAIL_FORMATS = frozenset({"slide", "dicom-wsi"})


def scale_boxes(boxes: list[dict], image_meta: dict) -> list[dict]:
    """Raw boxes are in the raw file's pixels; record boxes in the stored image's. A whole-slide
    record image is a thumbnail: boxes and polygons are scaled by its ``thumbnail_scale`` (kept in
    ``meta.image``, so level-0 coordinates are the record's divided by it)."""
    scale = image_meta.get("thumbnail_scale")
    if not boxes or image_meta.get("format") not in THUMBNAIL_FORMATS or not scale or scale == 1:
        return boxes
    out = []
    for b in boxes:
        b = dict(b)
        for k in ("x", "y", "w", "h"):
            if b.get(k) is not None:
                b[k] = b[k] * scale
        if b.get("polygon"):
            b["polygon"] = [c * scale for c in b["polygon"]]
        out.append(b)
    return out


def finish(rec: dict, item: RawItem, img: dict | None, txt: dict | None, text_error: str | None) -> dict:
    meta = dict(item.meta or {})
    errors = []
    if img is not None:
        if img.get("status") == "error":
            errors.append(img["error"])
        for col in ("image_path", "image_sha256", "phash", "width", "height", "bit_depth"):
            rec[col] = img.get(col)
        for col in ("modality", "body_part", "view"):
            rec[col] = rec[col] or img.get(col)
        if not rec["patient_id"] and img.get("header_patient_id"):
            rec["patient_id"] = img["header_patient_id"]  # hashed DICOM PatientID
        rec["phi_flags"] += img.get("phi_flags", [])
        rec["quality_flags"] += img.get("quality_flags", [])
        if img.get("image_meta"):
            meta["image"] = img["image_meta"]
            rec["boxes"] = scale_boxes(rec["boxes"], img["image_meta"])
    elif item.file is None:
        rec["quality_flags"].append("no_image")
    if text_error:
        errors.append(text_error)
        rec["quality_flags"].append("empty_text" if text_error.startswith("empty") else "bad_text")
    if txt is not None:
        rec["text"] = txt["text"]
        rec["phi_flags"] += txt["phi_flags"]
        rec["entities"] = txt["entities"]
        rec["labels"] = rec["labels"] + txt["labels"]
    if rec["body_part"]:
        rec["body_part"] = rec["body_part"].lower()
    rec["meta"] = json.dumps(meta, sort_keys=True, default=str) if meta else None
    if errors:
        rec["status"], rec["error"] = "error", "; ".join(errors)
    return rec




def mask_identifiers(text: str, deny: list[str]) -> tuple[str, list[dict]]:
    """Mask the image header's identifiers (patient name, id, dates ...) where they occur in the
    text, with ``X`` of the same length (entity offsets stay valid; ``XXXX`` is the usual
    de-identification placeholder the labeler tolerates). Returns the text and phi flags."""
    flags: list[dict] = []
    for token in sorted({d for d in deny if len(d) >= 3}, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w])" + re.escape(token) + r"(?![\w])", re.IGNORECASE)
        for m in list(pattern.finditer(text)):
            kind = "name" if token.isalpha() else ("date" if token.isdigit() and len(token) == 8 else "id")
            flags.append({"where": "text", "kind": kind, "left": m.start(), "top": None, "width": len(token),
                          "height": None, "confidence": 1.0, "redacted": True})
        text = pattern.sub(lambda m: "X" * len(m.group(0)), text)
    return text, flags

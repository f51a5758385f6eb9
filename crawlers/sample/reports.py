"""Free-text radiology reports for the sample images, from varied templates.

A report states each drawn finding (mostly plainly, sometimes hedged: "possible nodule"), negates a
few absent ones ("no pneumothorax", "without effusion"), sometimes hedges an absent one ("cannot
exclude effusion"), and is laid out in one of several styles: FINDINGS / IMPRESSION blocks, headers
on the same line as their text, lower-case headers, impression only, numbered impressions. Some
carry ``XXXX`` de-identification placeholders, some carry fake identifiers (name, MRN, date, phone)
for the text scrubber to find.

:func:`write_report` returns the text, the labels *as stated in the report* ({NIH finding: state})
and the character spans of the identifiers it planted.
"""

from __future__ import annotations

import random

FINDINGS = ("Cardiomegaly", "Effusion", "Nodule", "Mass", "Pneumothorax", "Infiltration", "Atelectasis")

POSITIVE = {
    "Cardiomegaly": ["The heart is enlarged.", "Cardiomegaly is present.", "Moderate cardiomegaly.",
                     "The cardiac silhouette is enlarged, consistent with cardiomegaly."],
    "Effusion": ["{Size} {side} pleural effusion.", "There is a {size} {side} pleural effusion with a meniscus.",
                 "Blunting of the {side} costophrenic angle consistent with a {size} pleural effusion."],
    "Nodule": ["A {size} nodule is seen in the {side} {zone} lung zone.",
               "There is a {size} rounded nodular opacity in the {side} {zone} zone, consistent with a pulmonary nodule.",
               "{Side} {zone} zone pulmonary nodule measuring {size}."],
    "Mass": ["There is a {size} mass in the {side} {zone} lung.", "Large {side} {zone} zone mass.",
             "A lobulated {side} {zone} zone mass measures approximately {size}."],
    "Pneumothorax": ["{Size} {side} apical pneumothorax.", "There is a {side} pneumothorax with a visible pleural line.",
                     "A {size} {side} pneumothorax is present."],
    "Infiltration": ["Patchy infiltrates in the {side} {zone} zone.", "{Side} {zone} zone infiltrate.",
                     "Patchy airspace opacities in the {side} lung, suggesting infiltration."],
    "Atelectasis": ["{Side} basilar atelectasis.", "{Kind} atelectasis at the {side} base.",
                    "Opacity at the {side} base consistent with atelectasis."],
}

UNCERTAIN = {
    "Cardiomegaly": ["Borderline cardiomegaly.", "Possible mild cardiomegaly."],
    "Effusion": ["Cannot exclude a small {side} pleural effusion.", "Possible small {side} effusion."],
    "Nodule": ["Possible nodule in the {side} {zone} zone.", "Questionable {side} {zone} zone nodule; CT recommended."],
    "Mass": ["Possible {side} {zone} zone mass.", "Cannot exclude a mass in the {side} {zone} zone."],
    "Pneumothorax": ["Cannot exclude a small {side} pneumothorax.", "Possible {side} apical pneumothorax."],
    "Infiltration": ["Possible early infiltrate in the {side} lung.", "Questionable {side} {zone} zone infiltrate."],
    "Atelectasis": ["Possible {side} basilar atelectasis.", "{Side} basilar opacity may represent atelectasis."],
}

#: Absent-finding statements: the text and the findings it negates.
NEGATIVE = [
    ("No pneumothorax.", ("Pneumothorax",)),
    ("There is no evidence of pneumothorax.", ("Pneumothorax",)),
    ("No pleural effusion.", ("Effusion",)),
    ("No pleural effusion or pneumothorax.", ("Effusion", "Pneumothorax")),
    ("No focal infiltrate.", ("Infiltration",)),
    ("No suspicious pulmonary nodules or masses.", ("Nodule", "Mass")),
    ("No focal mass.", ("Mass",)),
    ("Heart size is normal.", ("Cardiomegaly",)),
    ("No cardiomegaly.", ("Cardiomegaly",)),
    ("No atelectasis.", ("Atelectasis",)),
    ("The lungs are clear without effusion or pneumothorax.", ("Effusion", "Pneumothorax")),
]

NORMAL_FILLER = ["The mediastinal contours are normal.", "The osseous structures are intact.",
                 "No acute osseous abnormality.", "The hila are unremarkable."]
NORMAL_IMPRESSION = ["No acute cardiopulmonary abnormality.", "Normal chest radiograph.",
                     "No acute cardiopulmonary process.", "No active disease."]
INDICATIONS = ["Cough.", "Shortness of breath.", "Fever and cough.", "Chest pain.", "Preoperative evaluation.",
               "Dyspnea on exertion.", "Routine follow-up.", "XXXX-year-old with cough."]
COMPARISONS = ["None.", "None available.", "XXXX.", "Prior radiograph from XXXX."]

IMPRESSION_POS = {
    "Cardiomegaly": "Cardiomegaly.", "Effusion": "{Side} pleural effusion.", "Nodule": "{Side} pulmonary nodule.",
    "Mass": "{Side} lung mass.", "Pneumothorax": "{Side} pneumothorax.", "Infiltration": "{Side} infiltrate.",
    "Atelectasis": "{Side} basilar atelectasis.",
}
IMPRESSION_UNC = {
    "Cardiomegaly": "Possible cardiomegaly.", "Effusion": "Possible pleural effusion.", "Nodule": "Possible nodule.",
    "Mass": "Possible mass.", "Pneumothorax": "Cannot exclude pneumothorax.", "Infiltration": "Possible infiltrate.",
    "Atelectasis": "Possible atelectasis.",
}


def _fill(template: str, detail: dict) -> str:
    side = detail.get("side", "right")
    side_word = side
    words = {"side": side_word, "zone": detail.get("zone", "lower"), "size": detail.get("size") or "small",
             "kind": (detail.get("size") or "plate-like").replace("linear", "plate-like").replace("wedge", "segmental")}
    if side == "bilateral":
        template = template.replace("{side} pleural effusion", "bilateral pleural effusions")
    text = template
    for k, v in words.items():
        text = text.replace("{" + k + "}", v).replace("{" + k.capitalize() + "}", v[:1].upper() + v[1:])
    return text[:1].upper() + text[1:]


def write_report(findings: dict[str, dict], rng: random.Random, *, view: str,
                 identity: dict | None = None) -> tuple[str, dict[str, str], list[dict]]:
    """Report for an image showing ``findings`` ({NIH name: detail}).

    Returns ``(text, stated_labels, identifier_spans)``; identifiers of ``identity`` are written
    into the text when given (spans: ``{kind, text, start, end}``).
    """
    stated: dict[str, str] = {}
    body: list[str] = []
    impression: list[str] = []
    for name, detail in findings.items():
        if rng.random() < 0.15:
            stated[name] = "uncertain"
            body.append(_fill(rng.choice(UNCERTAIN[name]), detail))
            impression.append(_fill(IMPRESSION_UNC[name], detail))
        else:
            stated[name] = "positive"
            body.append(_fill(rng.choice(POSITIVE[name]), detail))
            impression.append(_fill(IMPRESSION_POS[name], detail))
    absent = [f for f in FINDINGS if f not in findings]
    if absent and rng.random() < 0.12:  # hedge about something that is not there
        name = rng.choice(absent)
        stated[name] = "uncertain"
        body.append(_fill(rng.choice(UNCERTAIN[name]), {"side": rng.choice(["right", "left"]), "zone": "lower"}))
        impression.append(_fill(IMPRESSION_UNC[name], {}))
    negs = [(t, fs) for t, fs in NEGATIVE if not any(f in stated for f in fs)]
    for text, fs in rng.sample(negs, k=min(len(negs), rng.randint(1, 3))):
        if any(f in stated for f in fs):
            continue
        if "lungs are clear" in text and findings:
            continue
        body.append(text)
        for f in fs:
            stated[f] = "negative"
    if not findings:
        body.insert(0, rng.choice(["The lungs are clear.", "Lungs are well expanded and clear.", "Clear lungs."]))
    if rng.random() < 0.5:
        body.append(rng.choice(NORMAL_FILLER))
    if rng.random() < 0.1:
        body.append("Status post XXXX.")
    if not impression:
        impression = [rng.choice(NORMAL_IMPRESSION)]
    stated["No Finding"] = "negative" if any(s in ("positive", "uncertain") for s in stated.values()) else "positive"
    rng.shuffle(body)
    text = _layout(body, impression, rng, view=view)
    spans: list[dict] = []
    if identity:
        text, spans = _add_identifiers(text, identity, rng)
    return text, stated, spans


def _layout(body: list[str], impression: list[str], rng: random.Random, *, view: str) -> str:
    findings_text = " ".join(body)
    style = rng.choices(["blocks", "inline", "lower", "numbered", "impression_only"], weights=[35, 25, 15, 15, 10])[0]
    if style == "blocks":
        return (f"EXAMINATION: CHEST {view}\n\nINDICATION: {rng.choice(INDICATIONS)}\n\n"
                f"COMPARISON: {rng.choice(COMPARISONS)}\n\nFINDINGS:\n{findings_text}\n\n"
                f"IMPRESSION:\n{' '.join(impression)}\n")
    if style == "inline":
        return f"FINDINGS: {findings_text}\nIMPRESSION: {' '.join(impression)}\n"
    if style == "lower":
        return f"Chest radiograph, {view} view.\n\nFindings: {findings_text}\n\nImpression: {' '.join(impression)}\n"
    if style == "numbered":
        items = "\n".join(f"{i}. {t}" for i, t in enumerate(impression, 1))
        return f"INDICATION: {rng.choice(INDICATIONS)}\nFINDINGS:\n{findings_text}\nIMPRESSION:\n{items}\n"
    return f"IMPRESSION: {findings_text} {' '.join(impression)}\n"


def _add_identifiers(text: str, ident: dict, rng: random.Random) -> tuple[str, list[dict]]:
    """Prepend a header and/or append a sign-off line carrying the fake identifiers."""
    spans: list[dict] = []
    head_parts = [("Patient: ", None), (ident["name"], "name"), ("   MRN: ", None), (ident["mrn"], "id"),
                  ("   DOB: ", None), (ident["dob"], "date"), ("\n", None)]
    tail_parts = [("\nDictated by Dr. ", None), (ident["doctor"], "name"), (" on ", None), (ident["study_date"], "date"),
                  (". Questions: call ", None), (ident["phone"], "phone"), (".\n", None)]
    use_head, use_tail = rng.choice([(True, False), (False, True), (True, True)])
    out = ""
    if use_head:
        for part, kind in head_parts:
            if kind:
                spans.append({"kind": kind, "text": part, "start": len(out), "end": len(out) + len(part)})
            out += part
    out += text
    if use_tail:
        for part, kind in tail_parts:
            if kind:
                spans.append({"kind": kind, "text": part, "start": len(out), "end": len(out) + len(part)})
            out += part
    return out, spans

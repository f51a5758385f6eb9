"""The labeling interface: config XML from the label vocabulary, and record <-> LS result conversion.

Control tags (their ``name`` is what a Label Studio result's ``from_name`` says):

* ``findings`` — multi-label Choices over :data:`manifests.labels.NIH15`: the finding is present;
* ``uncertain`` — the same findings, marked "possible / uncertain";
* ``lesions`` — RectangleLabels named by finding (lesion boxes);
* ``phi`` — RectangleLabels ``PHI``: a burned-in identifier on the image;
* ``note`` — free text.

Coordinates: Label Studio rectangles are in percent of the image; records hold image pixels.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

from manifests.labels import NIH14, NIH15, State

FINDINGS, UNCERTAIN, LESIONS, PHI, NOTE = "findings", "uncertain", "lesions", "phi", "note"
IMAGE, TEXT = "image", "report"
PHI_LABEL = "PHI"


def label_config(findings: tuple[str, ...] = NIH15, lesions: tuple[str, ...] = NIH14) -> str:
    """The project's labeling config (deterministic: the same vocabulary gives the same XML)."""
    def choices(name: str, title: str) -> list[str]:
        lines = [f'  <Header value={quoteattr(title)}/>',
                 f'  <Choices name="{name}" toName="{IMAGE}" choice="multiple" showInline="true">']
        lines += [f"    <Choice value={quoteattr(f)}/>" for f in findings]
        return lines + ["  </Choices>"]

    lines = ['<View>',
             f'  <Image name="{IMAGE}" value="$image" zoom="true" zoomControl="true" rotateControl="false"/>',
             '  <Header value="Report / caption"/>',
             f'  <Text name="{TEXT}" value="$text"/>']
    lines += choices(FINDINGS, "Findings present")
    lines += choices(UNCERTAIN, "Findings uncertain / possible")
    lines += ['  <Header value="Lesion boxes"/>', f'  <RectangleLabels name="{LESIONS}" toName="{IMAGE}">']
    lines += [f"    <Label value={quoteattr(f)}/>" for f in lesions]
    lines += ['  </RectangleLabels>',
              '  <Header value="Burned-in identifiers"/>',
              f'  <RectangleLabels name="{PHI}" toName="{IMAGE}">',
              f'    <Label value="{PHI_LABEL}" background="#ff0000"/>',
              '  </RectangleLabels>',
              '  <Header value="Note"/>',
              f'  <TextArea name="{NOTE}" toName="{IMAGE}" editable="true" maxSubmissions="1" rows="2"/>',
              '</View>']
    return "\n".join(lines) + "\n"


def normalize_config(xml: str) -> str:
    """Whitespace-insensitive form of a config, to compare an existing project's with ours."""
    xml = re.sub(r">\s+<", "><", xml.strip())
    return re.sub(r"\s+", " ", xml)


def same_config(a: str, b: str) -> bool:
    return normalize_config(a) == normalize_config(b)


# --- record -> prediction results -------------------------------------------------------

def _rect(from_name: str, label: str, x: float, y: float, w: float, h: float, width: int, height: int) -> dict:
    return {
        "from_name": from_name, "to_name": IMAGE, "type": "rectanglelabels",
        "original_width": int(width), "original_height": int(height), "image_rotation": 0,
        "value": {"x": 100.0 * x / width, "y": 100.0 * y / height, "width": 100.0 * w / width,
                  "height": 100.0 * h / height, "rotation": 0, "rectanglelabels": [label]},
    }


def prediction_results(states: dict[str, str], boxes: list[dict], phi: list[dict], size: tuple[int, int] | None) -> list[dict]:
    """LS result list for one label source: finding choices, lesion and PHI rectangles.

    Boxes need the image ``size`` (width, height); without it they are left out.
    """
    out: list[dict] = []
    pos = [f for f in NIH15 if states.get(f) == State.POSITIVE.value]
    unc = [f for f in NIH15 if states.get(f) == State.UNCERTAIN.value]
    if pos:
        out.append({"from_name": FINDINGS, "to_name": IMAGE, "type": "choices", "value": {"choices": pos}})
    if unc:
        out.append({"from_name": UNCERTAIN, "to_name": IMAGE, "type": "choices", "value": {"choices": unc}})
    if size and size[0] and size[1]:
        w, h = size
        for b in boxes:
            if b.get("label") in NIH14 and b.get("w") and b.get("h"):
                out.append(_rect(LESIONS, b["label"], b["x"], b["y"], b["w"], b["h"], w, h))
        for p in phi:
            if p.get("where") == "image" and p.get("width") and p.get("height"):
                out.append(_rect(PHI, PHI_LABEL, p["left"], p["top"], p["width"], p["height"], w, h))
    return out


# --- LS annotation result -> record fields ----------------------------------------------

def _pixels(item: dict, size: tuple[int, int] | None) -> tuple[float, float, float, float] | None:
    v = item.get("value") or {}
    ow = item.get("original_width") or (size[0] if size else None)
    oh = item.get("original_height") or (size[1] if size else None)
    if not ow or not oh:
        return None
    return (v.get("x", 0.0) * ow / 100.0, v.get("y", 0.0) * oh / 100.0,
            v.get("width", 0.0) * ow / 100.0, v.get("height", 0.0) * oh / 100.0)


def parse_result(result: list[dict], size: tuple[int, int] | None = None) -> dict:
    """One annotation's result list -> ``{states, boxes, phi, note, unparsed}``.

    ``states`` covers every NIH15 finding when the annotator used a finding control (a finding not
    ticked is then negative); it is empty when they only drew boxes or wrote a note. Boxes are in
    image pixels (from ``original_width``/``original_height``, else ``size``). Results of unknown
    controls are returned in ``unparsed`` so nothing is dropped silently.
    """
    chosen: dict[str, set[str]] = {FINDINGS: set(), UNCERTAIN: set()}
    used_choices = False
    boxes: list[dict] = []
    phi: list[dict] = []
    notes: list[str] = []
    unparsed: list[dict] = []
    for item in result or []:
        name, value = item.get("from_name"), item.get("value") or {}
        if name in chosen and item.get("type") == "choices":
            used_choices = True
            chosen[name].update(value.get("choices") or [])
        elif name in (LESIONS, PHI) and item.get("type") == "rectanglelabels":
            px = _pixels(item, size)
            if px is None:
                unparsed.append(item)
                continue
            x, y, w, h = px
            for label in value.get("rectanglelabels") or []:
                if name == PHI:
                    phi.append({"where": "image", "kind": "other", "left": int(round(x)), "top": int(round(y)),
                                "width": int(round(w)), "height": int(round(h)), "confidence": 1.0, "redacted": False})
                else:
                    boxes.append({"label": label, "x": x, "y": y, "w": w, "h": h})
        elif name == NOTE and item.get("type") == "textarea":
            notes.extend(value.get("text") or [])
        else:
            unparsed.append(item)
    states: dict[str, str] = {}
    if used_choices:
        for f in NIH15:
            if f in chosen[FINDINGS]:
                states[f] = State.POSITIVE.value
            elif f in chosen[UNCERTAIN]:
                states[f] = State.UNCERTAIN.value
            else:
                states[f] = State.NEGATIVE.value
        unknown = (chosen[FINDINGS] | chosen[UNCERTAIN]) - set(NIH15)
        for f in sorted(unknown):
            states[f] = State.POSITIVE.value if f in chosen[FINDINGS] else State.UNCERTAIN.value
    return {"states": states, "boxes": boxes, "phi": phi, "note": "\n".join(notes) or None, "unparsed": unparsed}

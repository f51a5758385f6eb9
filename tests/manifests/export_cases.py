"""The manifest the export tests share: splits, odd keys, boxes, identifier boxes, a synthetic row, an
error row, a row whose only text is an added caption."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from manifests.io import write_manifest
from manifests.schema import from_records, labels_list
from tests.manifests.conftest import make_records

#: keys that are hostile to tar member names and webdataset's key.extension split
ODD_KEYS = {3: "pmc:PMC123/fig.2.a", 4: "wikimedia:File:Chest x-ray (PA).png", 5: "openi:CXR1_1_IM-0001-4001"}



def build_rich(root: Path) -> Path:
    """A 14-row manifest in ``root`` (deterministic: same bytes for the same code)."""
    root.mkdir(parents=True, exist_ok=True)
    recs = make_records(root, 14, seed=3)
    for i, r in enumerate(recs):
        r["split"] = ("train", "train", "val", "test")[i % 4]
        if i in ODD_KEYS:
            r["key"] = ODD_KEYS[i]
            r["source"], r["source_id"] = ODD_KEYS[i].split(":", 1)
    recs[0].update(boxes=[{"label": "Nodule", "x": 2.0, "y": 3.0, "w": 4.0, "h": 5.0, "label_source": "human",
                           "annotator": "ann1"},
                          {"label": "Mass", "x": 8.0, "y": 4.0, "w": 6.0, "h": 8.0, "label_source": "human",
                           "annotator": "ann1", "polygon": [11.0, 4.0, 14.0, 8.0, 11.0, 12.0, 8.0, 8.0]}],
                   phi_flags=[{"where": "image", "kind": "name", "left": 1, "top": 1, "width": 6, "height": 2,
                               "confidence": 0.91, "redacted": True},
                              {"where": "text", "kind": "date", "left": None, "top": None, "width": None,
                               "height": None, "confidence": None, "redacted": True}])
    recs[1].update(source_url="https://openi.example/1", retrieved_at=datetime(2026, 1, 2, tzinfo=timezone.utc),
                   license="CC-BY-4.0", license_url="https://creativecommons.org/licenses/by/4.0/",
                   attribution="Open-i, NLM")
    recs[6].update(synthetic=True, generator="gan/run1/G_ema.pt", text=None,
                   labels=labels_list({"Hernia": "positive"}, "synthetic"))
    recs[7].update(labels=labels_list({"Effusion": "uncertain"}, "ner"))
    recs[9].update(status="error", error="decode failed: truncated file")
    recs[10].update(text=None, text_kind=None, captions=[
        {"text": "draft", "text_kind": "caption", "captioner": "template", "status": "error", "error": "x"},
        {"text": "Frontal chest radiograph.", "text_kind": "caption", "captioner": "template",
         "prompt_version": "1", "status": "ok"}])
    return write_manifest(from_records(recs), root / "manifest.parquet",
                          meta={"split": {"seed": 4, "group_key": "patient_id"}})

"""``monai``: a Medical Segmentation Decathlon style datalist JSON for classification.

``{"training": [...], "validation": [...], "test": [...]}`` (manifest splits train/val/test; see
``_common.split_groups`` for unsplit rows), each item ``{"image": path, "label": [...], "key",
"patient_id", "label_states"}``. ``image`` is relative to the JSON file's directory (the images stay
in the manifest's store), which is what ``monai.data.load_decathlon_datalist`` joins it with.

``label`` is one number per finding of the top-level ``labels`` (index -> finding): 1 positive,
0 negative or not mentioned, -1 uncertain (the CheXpert convention: uncertainty is kept, a
U-Ones / U-Zeros policy belongs in the training transform). ``label_states`` has the four-state
truth, most trusted label source first (``manifests.schema.primary_labels``).
"""

from __future__ import annotations

from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.ops.export._common import ImageSource, findings_in, relpath, split_groups
from manifests.ops.export._describe import counts

SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}
_NUMBER = {"positive": 1, "negative": 0, "not_mentioned": 0, "uncertain": -1}


class MonaiExport(Exporter):
    name = "monai"
    summary = "MONAI datalist JSON (training/validation/test: image path, label vector, states)"
    opens_with = "monai.data.load_decathlon_datalist(FILE, is_segmentation=False)"
    directory = False

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        from manifests.io import write_json_atomic
        from manifests.schema import primary_labels

        images = ImageSource(ctx.images_root)
        table = images.exportable(table)
        findings = findings_in(table)
        doc: dict = {
            "name": ctx.name,
            "description": f"medharvest manifest export ({table.num_rows} images)",
            "licence": ", ".join(k for k in counts(table, "license")) if table.num_rows else "",
            "tensorImageSize": "2D",
            "modalities": [m for m in counts(table, "modality")] if table.num_rows else [],
            "labels": {str(i): f for i, f in enumerate(findings)},
        }
        base = out.parent
        sizes = {}
        for split, part in split_groups(table, SPLIT_NAMES):
            items = []
            for row in part.select(["key", "image_path", "patient_id", "labels"]).to_pylist():
                states = primary_labels(row["labels"])
                items.append({
                    "image": relpath(images.path(row), base),
                    "label": [_NUMBER[states.get(f, "not_mentioned")] for f in findings],
                    "key": row["key"],
                    "patient_id": row["patient_id"],
                    "label_states": states,
                })
            doc[split] = items
            sizes[split] = len(items)
        doc["numTraining"] = sizes.get("training", 0)
        doc["numValidation"] = sizes.get("validation", 0)
        doc["numTest"] = sizes.get("test", 0)
        write_json_atomic(out, doc)
        return {"rows": sum(sizes.values()), "skipped": dict(images.skipped), "splits": sizes}

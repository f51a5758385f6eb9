"""``croissant``: an MLCommons Croissant 1.0 JSON-LD description + the records it describes.

Layout::

    DIR/croissant.json      the dataset's metadata (schema.org + Croissant + Croissant RAI)
    DIR/records.parquet     one row per exported record: the image's bytes, its text, one column
                            per finding (its four-state label), provenance, split, synthetic flag

The JSON-LD has one ``cr:FileObject`` (``records.parquet``, with its sha256) and one
``cr:RecordSet`` ``records`` whose fields extract the Parquet columns (``image`` is an
``sc:ImageObject``: ``mlcroissant`` decodes the bytes to a PIL image). The responsible-AI fields
(``rai:*``) are filled from the rows: licences with their row counts, identifier handling and the
detection counts (never the identifier text), label sources, synthetic rows and their generators,
sources and retrieval time frame. ``mlcroissant.Dataset`` validates it and loads the records,
offline (every URL in it is relative or a licence/homepage reference never fetched).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.ops.export._common import ROW_GROUP, ImageSource, ParquetShards, findings_in
from manifests.ops.export._describe import describe, phi_statement, plural

RECORDS = "records.parquet"
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated",
    "replace": "cr:replace", "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform", "equivalentProperty": "cr:equivalentProperty", "samplingRate": "cr:samplingRate",
}
#: (parquet column = record column, Croissant data type, description)
COLUMNS = (
    ("key", "sc:Text", "stable record id '<source>:<source_id>'"),
    ("source", "sc:Text", "source or importer name"),
    ("source_id", "sc:Text", "id of the item at its source"),
    ("source_url", "sc:Text", "where the item was retrieved from"),
    ("retrieved_at", "sc:Date", "retrieval / import time (UTC)"),
    ("license", "sc:Text", "the record's licence"),
    ("license_url", "sc:Text", "licence text URL"),
    ("attribution", "sc:Text", "credit line required by the licence"),
    ("image_sha256", "sc:Text", "sha256 of the image file's bytes"),
    ("width", "sc:Integer", "image width, pixels"),
    ("height", "sc:Integer", "image height, pixels"),
    ("modality", "sc:Text", "DICOM modality (CR, DX, CT, MR, SM, ...)"),
    ("body_part", "sc:Text", "body part"),
    ("view", "sc:Text", "view position (PA, AP, LATERAL, ...)"),
    ("patient_id", "sc:Text", "patient id (hashed where sensitive); splits never share a patient"),
    ("study_id", "sc:Text", "study id"),
    ("text", "sc:Text", "report / caption / description, identifier-scrubbed"),
    ("text_kind", "sc:Text", "report | caption | description | ocr"),
    ("split", "sc:Text", "train | val | test (patient-grouped)"),
    ("synthetic", "sc:Boolean", "true for generated (GAN) images"),
    ("generator", "sc:Text", "checkpoint that generated a synthetic image"),
)
#: nested record columns kept as JSON text
JSON_COLUMNS = (("labels", "every label with its state, label_source and annotator (JSON)"),
                ("boxes", "lesion boxes {label, x, y, w, h} in image pixels (JSON)"),
                ("phi_flags", "identifier detections: kind and position only, never the text (JSON)"),
                ("captions", "captions added by curate caption, with captioner, model and status (JSON)"))


def finding_column(finding: str) -> str:
    """``No Finding`` -> ``label_no_finding`` (a Parquet column and Croissant field name)."""
    return "label_" + re.sub(r"[^a-z0-9]+", "_", finding.lower()).strip("_")


def _field(name: str, data_type: str, description: str, column: str | None = None) -> dict:
    return {"@type": "cr:Field", "@id": f"records/{name}", "name": name, "description": description,
            "dataType": data_type, "source": {"fileObject": {"@id": RECORDS}, "extract": {"column": column or name}}}


def _records_schema(findings: list[str]):
    import pyarrow as pa

    from manifests.schema import SCHEMA

    fields = [pa.field("image", pa.binary())] + [SCHEMA.field(c) for c, _, _ in COLUMNS]
    fields += [pa.field(c, pa.string()) for c, _ in JSON_COLUMNS]
    fields.append(pa.field("image_text", pa.string()))
    fields += [pa.field(finding_column(f), pa.string()) for f in findings]
    return pa.schema(fields)


def _record(row: dict, data: bytes, findings: list[str]) -> dict:
    from manifests.schema import primary_labels, record_text

    states = primary_labels(row["labels"])
    rec = {"image": data, **{c: row[c] for c, _, _ in COLUMNS}}
    rec.update({c: json.dumps(row[c] or [], ensure_ascii=False) for c, _ in JSON_COLUMNS})
    rec["image_text"] = record_text(row)[0]
    rec.update({finding_column(f): states.get(f, "not_mentioned") for f in findings})
    return rec


def _rai(d: dict) -> dict:
    """The Croissant RAI properties, from :func:`_common.describe`."""
    lic = "; ".join(f"{n}: {plural(v['rows'], 'row')}" + (f" ({v['url']})" if v["url"] else "")
                    for n, v in d["licences"].items())
    sources = ", ".join(f"{k} ({v})" for k, v in d["sources"].items())
    span = ""
    if d["retrieved"]:
        span = f" Retrieved between {d['retrieved'][0]:%Y-%m-%d} and {d['retrieved'][1]:%Y-%m-%d}."
    synth = (f"{d['synthetic']} of {d['rows']} records are synthetic (field synthetic = true), generated by "
             + ", ".join(d["generators"]) + "; they are training augmentation, not clinical observations, and "
             "must be excluded from evaluation." if d["synthetic"] else
             "No record is synthetic (field synthetic is false on every record).")
    sources_l = ", ".join(f"{k} {v}" for k, v in d["label_sources"].items()) or "none"
    tools = []
    if "ner" in d["label_sources"]:
        tools.append("medharvest report NER (spaCy rules with negation and uncertainty detection)")
    if d["phi"].get("image"):
        tools.append("Tesseract OCR (burned-in identifier detection)")
    if "model" in d["label_sources"]:
        tools.append("a trained medharvest classifier (label_source = model)")
    prev = ", ".join(f"{f} {s.get('positive', 0)}/{d['rows']}" for f, s in list(d["findings"].items())[:8])
    rai = {
        "rai:dataCollection": f"Public medical image–text sources crawled or imported by medharvest: {sources}.{span} "
                              f"Licences: {lic}. {synth}",
        "rai:dataCollectionType": ["Secondary data: public datasets and web sources"]
                                  + (["Synthetic data (GAN)"] if d["synthetic"] else []),
        "rai:dataPreprocessingProtocol": "Images decoded (DICOM, NIfTI, whole-slide, PNG/JPEG) and normalised to "
                                         "PNG in a content-addressed store; exact and perceptual duplicates "
                                         "grouped; quality flags (blank, too small, ...); identifier redaction "
                                         "and text scrubbing (see rai:personalSensitiveInformation).",
        "rai:dataAnnotationProtocol": "Each finding has one of four states (positive, negative, uncertain, "
                                      "not_mentioned) with its label_source: dataset (the source's own labels), "
                                      "ner (from the report text), human (Label Studio), model, synthetic (the "
                                      "class a generated image was drawn for). Label entries per source: "
                                      f"{sources_l}. The label_* fields take the most trusted source per finding "
                                      "(human > dataset > model > ner > synthetic); labels keeps them all.",
        "rai:personalSensitiveInformation": phi_statement(d["phi"]),
        "rai:dataUseCases": "Training and evaluating medical image classifiers, detectors and image–text models; "
                            "research on data augmentation. Not for clinical decision making.",
        "rai:dataLimitations": f"{synth} Labels mined from reports (label_source = ner) are noisy; uncertain "
                               "states are kept, not collapsed. Positives per finding (first 8): "
                               + (prev or "none") + ".",
        "rai:dataBiases": "Sources, modalities and findings are unevenly represented (counts above and in the "
                          "datasheet); rare findings have few positives; patients may be over-represented by "
                          "several studies (splits group by patient).",
        "rai:dataSocialImpact": "Wider access to curated, licensed medical data for research; misuse risks are "
                                "re-identification attempts (mitigated: identifiers removed, ids hashed) and "
                                "over-trust of models trained on it.",
        "rai:dataReleaseMaintenancePlan": "A snapshot: regenerate with medharvest from the sources to update; "
                                          "record keys are stable across versions.",
    }
    if "human" in d["label_sources"]:
        rai["rai:dataAnnotationPlatform"] = ["Label Studio"]
    if tools:
        rai["rai:machineAnnotationTools"] = tools
    return rai


class CroissantExport(Exporter):
    name = "croissant"
    summary = "MLCommons Croissant JSON-LD (incl. responsible-AI fields) + the records as Parquet"
    opens_with = "mlcroissant.Dataset(jsonld='DIR/croissant.json').records('records')"

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from manifests.io import write_json_atomic

        out.mkdir(parents=True, exist_ok=True)
        images = ImageSource(ctx.images_root)
        findings = findings_in(table)
        mask = []
        with ParquetShards(out, _records_schema(findings), None, lambda i: RECORDS) as records:
            for batch in table.to_batches(max_chunksize=ROW_GROUP):
                for row in batch.to_pylist():
                    data, _ = images.read(row)
                    mask.append(data is not None)
                    if data is not None:
                        records.add(_record(row, data, findings))
        exported = table.filter(pa.array(mask, pa.bool_()))
        if not exported.num_rows:
            from manifests.io import atomic_path

            with atomic_path(out / RECORDS, ".parquet") as tmp:   # an empty, still loadable record set
                pq.write_table(_records_schema(findings).empty_table(), tmp)
        sha = _sha256(out / RECORDS)
        d = describe(exported)
        fields = [{"@type": "cr:Field", "@id": "records/image", "name": "image", "dataType": "sc:ImageObject",
                   "description": "the normalised image (PNG bytes)",
                   "source": {"fileObject": {"@id": RECORDS}, "extract": {"column": "image"}}}]
        fields += [_field(c, t, desc) for c, t, desc in COLUMNS]
        fields += [_field(c, "sc:Text", desc) for c, desc in JSON_COLUMNS]
        fields.append(_field("image_text", "sc:Text", "the text describing the image: the record's own text, else "
                             "its newest ok caption"))
        fields += [_field(finding_column(f), "sc:Text", f"state of '{f}': positive | negative | uncertain | "
                          "not_mentioned (most trusted label source)") for f in findings]
        licences = [v["url"] or n for n, v in d["licences"].items()]
        doc = {
            "@context": CONTEXT,
            "@type": "sc:Dataset",
            "conformsTo": "http://mlcommons.org/croissant/1.0",
            "name": ctx.name,
            "description": "Image–text records exported by medharvest from a curated manifest: "
                           f"{exported.num_rows} images, "
                           f"{len(findings)} findings with four-state labels, patient-grouped splits.",
            "version": "1.0.0",
            "datePublished": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "license": licences or ["unknown"],
            "creator": {"@type": "sc:Organization", "name": "medharvest"},
            "citeAs": "; ".join(sorted({a for v in d["licences"].values() for a in v["attribution"]}))
                      or f"{ctx.name} (medharvest export)",
            "keywords": ["medical imaging", "image-text", "medharvest", *d["modalities"]],
            "isLiveDataset": False,
            **_rai(d),
            "distribution": [{"@type": "cr:FileObject", "@id": RECORDS, "name": RECORDS, "contentUrl": RECORDS,
                              "encodingFormat": "application/x-parquet", "sha256": sha,
                              "description": "the exported records, one per row"}],
            "recordSet": [{"@type": "cr:RecordSet", "@id": "records", "name": "records",
                           "description": "one image–text record per row", "key": {"@id": "records/key"},
                           "field": fields}],
        }
        write_json_atomic(out / "croissant.json", doc)
        return {"rows": exported.num_rows, "skipped": dict(images.skipped), "findings": len(findings),
                "synthetic": d["synthetic"]}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

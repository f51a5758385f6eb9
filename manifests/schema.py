"""The record contract (DESIGN.md, "The record") as a pyarrow schema.

One row per image-text pair. Column names and types are stable: add columns, never rename.
Nested columns:

* ``labels``: list of ``{finding, state, label_source, annotator}`` (four states, see
  :mod:`manifests.labels`); findings not listed are ``not_mentioned``.
* ``entities``: NER spans ``{start, end, text, label, negated, uncertain, section}``.
* ``boxes``: lesion boxes in image pixels ``{label, x, y, w, h, label_source, annotator, polygon}``;
  ``polygon`` (schema 2.1) is the region's outline as a flat ``[x0, y0, x1, y1, ...]`` in the
  same pixels, null for a plain box. Manifests written before it read back with ``polygon`` null.
* ``phi_flags``: identifier detections ``{where, kind, left, top, width, height, confidence, redacted}``;
  the identifier text itself is never stored.
* ``captions`` (schema 2): texts *added* to a record by ``curate caption``, each a
  :data:`CAPTION_TYPE` ``{text, text_kind="caption", entities, labels, phi_flags, captioner, model,
  weights_sha256, endpoint, prompt_version, created_at, status, error}`` -- scrubbed and labelled like
  the report, with its provenance. A record's own ``text`` (the report) is never replaced: the
  caption of an image-only record lives here, beside the still-null ``text``. Caption labels carry
  ``label_source="caption"`` inside the caption only; they never enter the record's ``labels``.
* ``consistency`` (schema 2): the image-text agreement check (``curate consistency``)
  ``{score, flags, checks, details}``: score in [0, 1] (1 = nothing contradicts), flags such as
  ``view_mismatch`` / ``label_contradiction:Effusion``, the checks that ran, and a JSON object of the
  evidence. Null until the check ran.

Manifests written before schema 2 have neither column; :func:`conform` (used by every reader)
adds them empty (``captions == []``, ``consistency`` null), so old manifests stay readable.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "2.1"   # 2.1: boxes.polygon

LABEL_TYPE = pa.struct([
    ("finding", pa.string()),
    ("state", pa.string()),
    ("label_source", pa.string()),
    ("annotator", pa.string()),
])

ENTITY_TYPE = pa.struct([
    ("start", pa.int32()),
    ("end", pa.int32()),
    ("text", pa.string()),
    ("label", pa.string()),
    ("negated", pa.bool_()),
    ("uncertain", pa.bool_()),
    ("section", pa.string()),
])

BOX_TYPE = pa.struct([
    ("label", pa.string()),
    ("x", pa.float32()),
    ("y", pa.float32()),
    ("w", pa.float32()),
    ("h", pa.float32()),
    ("label_source", pa.string()),
    ("annotator", pa.string()),
    ("polygon", pa.list_(pa.float32())),      # outline x0, y0, x1, y1, ... (None: the box is the region)
])

PHI_TYPE = pa.struct([
    ("where", pa.string()),      # "image" | "text" | "header"
    ("kind", pa.string()),       # name | date | id | age | phone | address | other
    ("left", pa.int32()),
    ("top", pa.int32()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("confidence", pa.float32()),
    ("redacted", pa.bool_()),
])

CAPTION_TYPE = pa.struct([
    ("text", pa.string()),
    ("text_kind", pa.string()),          # always "caption"
    ("entities", pa.list_(ENTITY_TYPE)),
    ("labels", pa.list_(LABEL_TYPE)),    # label_source "caption"
    ("phi_flags", pa.list_(PHI_TYPE)),
    ("captioner", pa.string()),          # template | blip | llm | ...
    ("model", pa.string()),              # model id / directory name; null for template
    ("weights_sha256", pa.string()),     # local weights; null for template and endpoints
    ("endpoint", pa.string()),           # llm: base URL (never a key)
    ("prompt_version", pa.string()),     # template / prompt version
    ("created_at", pa.string()),         # ISO time the caption was made
    ("status", pa.string()),             # ok | error
    ("error", pa.string()),
])

CONSISTENCY_TYPE = pa.struct([
    ("score", pa.float32()),
    ("flags", pa.list_(pa.string())),
    ("checks", pa.list_(pa.string())),
    ("details", pa.string()),            # JSON object: per-check evidence
])

FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("key", pa.string(), "stable id '<source>:<source_id>'"),
    ("source", pa.string(), "source or importer name"),
    ("source_id", pa.string(), "id of the item at its source"),
    ("source_url", pa.string(), "where it was retrieved from"),
    ("retrieved_at", pa.timestamp("us", tz="UTC"), "retrieval / import time"),
    ("license", pa.string(), "licence short name"),
    ("license_url", pa.string(), "licence text URL"),
    ("attribution", pa.string(), "credit line required by the licence"),
    ("provenance_required", pa.bool_(), "true: validate requires source_url, retrieved_at, license, license_url"),
    ("image_path", pa.string(), "normalised image, relative to the manifest's directory"),
    ("image_sha256", pa.string(), "sha256 of the file at image_path"),
    ("phash", pa.string(), "64-bit perceptual hash, hex"),
    ("dup_group", pa.string(), "near-duplicate group id (shared by perceptual duplicates)"),
    ("width", pa.int32(), "pixels"),
    ("height", pa.int32(), "pixels"),
    ("bit_depth", pa.int16(), "bits per sample of the stored image"),
    ("modality", pa.string(), "DICOM modality: CR, DX, CT, MR, SM, ..."),
    ("body_part", pa.string(), "chest, brain, ..."),
    ("view", pa.string(), "PA, AP, LATERAL, ..."),
    ("patient_id", pa.string(), "patient id (hashed where sensitive)"),
    ("study_id", pa.string(), "study id"),
    ("text", pa.string(), "report / caption / description, sections kept"),
    ("text_kind", pa.string(), "report | caption | description | ocr"),
    ("entities", pa.list_(ENTITY_TYPE), "NER spans"),
    ("labels", pa.list_(LABEL_TYPE), "finding states"),
    ("boxes", pa.list_(BOX_TYPE), "lesion boxes"),
    ("phi_flags", pa.list_(PHI_TYPE), "identifier detections"),
    ("quality_flags", pa.list_(pa.string()), "quality problems found (blank, too_small, ...)"),
    ("split", pa.string(), "train | val | test"),
    ("synthetic", pa.bool_(), "true for generated images"),
    ("generator", pa.string(), "checkpoint that generated the image"),
    ("captions", pa.list_(CAPTION_TYPE), "added captions with provenance (curate caption)"),
    ("consistency", CONSISTENCY_TYPE, "image-text agreement: score, flags, checks (curate consistency)"),
    ("meta", pa.string(), "source metadata as a JSON object"),
    ("status", pa.string(), "ok | error | skipped"),
    ("error", pa.string(), "what went wrong, for status=error"),
    ("stage_version", pa.string(), "stage and version that wrote the record"),
]

SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in FIELDS])
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
DESCRIPTIONS: dict[str, str] = {n: d for n, _, d in FIELDS}

STATUSES = ("ok", "error", "skipped")
SPLITS = ("train", "val", "test")
TEXT_KINDS = ("report", "caption", "description", "ocr", "")

#: Columns a record with ``provenance_required`` must fill. The flag travels with the record (set by
#: the crawler engine from the source's declaration, ``SourceSpider.provenance_required``), so the hub
#: never names a source. Manifests written before the column existed read it as null = not required.
PROVENANCE_COLUMNS = ("source_url", "retrieved_at", "license", "license_url")

_LIST_COLUMNS = {n for n, t, _ in FIELDS if pa.types.is_list(t)}


def empty_record() -> dict:
    """A record with every column present: lists empty, flags false, strings None."""
    rec: dict = {n: None for n in COLUMNS}
    for n in _LIST_COLUMNS:
        rec[n] = []
    rec["synthetic"] = False
    rec["status"] = "ok"
    return rec


def record_text(rec: dict) -> tuple[str | None, str | None]:
    """The text that describes a record's image: ``(text, kind)``.

    The record's own text (a report, a description) when it has one, else its newest ``ok`` caption.
    """
    if rec.get("text"):
        return rec["text"], rec.get("text_kind") or "report"
    for cap in reversed(rec.get("captions") or []):
        if cap.get("status") == "ok" and cap.get("text"):
            return cap["text"], "caption"
    return None, None


def make_key(source: str, source_id: str) -> str:
    if not source or ":" in source:
        raise ValueError(f"source name {source!r} must be non-empty and contain no ':'")
    if not source_id:
        raise ValueError("source_id must be non-empty")
    return f"{source}:{source_id}"


def labels_list(states: dict[str, str], label_source: str, annotator: str | None = None) -> list[dict]:
    """{finding: state} -> the ``labels`` column value (not_mentioned states are dropped)."""
    return [
        {"finding": f, "state": s, "label_source": label_source, "annotator": annotator}
        for f, s in states.items()
        if s != "not_mentioned"
    ]


def labels_dict(labels: list[dict] | None, *, label_source: str | None = None) -> dict[str, str]:
    """The ``labels`` column value -> {finding: state}; optionally only one label_source.

    When several sources label one finding, the later entry wins (human labels are appended last).
    """
    out: dict[str, str] = {}
    for item in labels or []:
        if label_source is None or item.get("label_source") == label_source:
            out[item["finding"]] = item["state"]
    return out


#: Default trust order when several label sources label the same finding.
LABEL_PREFERENCE: tuple[str, ...] = ("human", "dataset", "model", "ner", "synthetic")


def primary_labels(labels: list[dict] | None, prefer: tuple[str, ...] = LABEL_PREFERENCE) -> dict[str, str]:
    """{finding: state} taking, per finding, the state from the most trusted ``label_source``."""
    rank = {s: i for i, s in enumerate(prefer)}
    best: dict[str, tuple[int, str]] = {}
    for item in labels or []:
        r = rank.get(item.get("label_source") or "", len(rank))
        f = item["finding"]
        if f not in best or r <= best[f][0]:
            best[f] = (r, item["state"])
    return {f: s for f, (_, s) in best.items()}


def conform(table: pa.Table) -> pa.Table:
    """Add missing columns (nulls / empty lists) and order + cast to :data:`SCHEMA`.

    Unknown columns are an error: they would be silently dropped otherwise.
    """
    extra = [c for c in table.column_names if c not in COLUMNS]
    if extra:
        from manifests.errors import ManifestError
        from manifests.registry import did_you_mean

        raise ManifestError(f"unknown column '{extra[0]}'{did_you_mean(extra[0], COLUMNS)}")
    n = table.num_rows
    arrays = []
    for field in SCHEMA:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            arrays.append(col)
        elif field.name in _LIST_COLUMNS:
            arrays.append(pa.array([[]] * n, type=field.type))
        elif field.name == "synthetic":
            arrays.append(pa.array([False] * n, type=field.type))
        elif field.name == "status":
            arrays.append(pa.array(["ok"] * n, type=field.type))
        else:
            arrays.append(pa.nulls(n, type=field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def from_records(records: list[dict]) -> pa.Table:
    """Build a conformant table from record dicts (missing keys get defaults)."""
    if not records:
        return SCHEMA.empty_table()
    full = []
    for r in records:
        base = empty_record()
        unknown = set(r) - set(COLUMNS)
        if unknown:
            from manifests.errors import ManifestError

            raise ManifestError(f"record {r.get('key')!r} has unknown column(s) {sorted(unknown)}")
        base.update(r)
        full.append(base)
    return pa.Table.from_pylist(full, schema=SCHEMA)

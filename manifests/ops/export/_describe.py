"""What a dataset card and Croissant's responsible-AI fields say about exported rows.

Counts only (licences, label sources, identifier detections, synthetic rows, findings); never the
identifier text. pyarrow is imported inside the functions (see ``_common``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def counts(table: pa.Table, column: str) -> dict[str, int]:
    """``{value: rows}`` of a string column, nulls as ``"(none)"``, most frequent first."""
    vc = table[column].value_counts().to_pylist()
    pairs = [((d["values"] if d["values"] is not None else "(none)"), d["counts"]) for d in vc]
    return dict(sorted(pairs, key=lambda p: (-p[1], str(p[0]))))


def label_source_counts(table: pa.Table) -> dict[str, int]:
    """``{label_source: label entries}`` over the whole table."""
    flat = table["labels"].combine_chunks().flatten()
    if not len(flat):
        return {}
    vc = flat.field("label_source").value_counts().to_pylist()
    return {(d["values"] or "(none)"): d["counts"] for d in sorted(vc, key=lambda d: -d["counts"])}


def phi_summary(table: pa.Table) -> dict[str, dict[str, int]]:
    """``{where: {kind: detections}}`` plus how many were redacted (never the identifier text)."""
    out: dict[str, dict[str, int]] = {}
    for flags in table["phi_flags"].to_pylist():
        for f in flags or []:
            d = out.setdefault(f.get("where") or "unknown", {})
            d[f.get("kind") or "other"] = d.get(f.get("kind") or "other", 0) + 1
            if f.get("redacted"):
                d["redacted"] = d.get("redacted", 0) + 1
    return out


_HF_CC = re.compile(r"cc-by(-nc)?(-nd)?(-sa)?-\d\.\d")


def hf_license(name: str | None) -> str:
    """A manifest licence name as a Hugging Face Hub licence id (``other`` when there is none)."""
    if not name:
        return "unknown"
    s = re.sub(r"[\s_]+", "-", name.strip().lower())
    if s in ("cc0", "cc0-1.0", "cc-zero"):
        return "cc0-1.0"
    if _HF_CC.fullmatch(s):
        return s
    if s in ("mit", "apache-2.0", "odbl", "pddl", "odc-by"):
        return s
    return "other"


def describe(table: pa.Table) -> dict:
    """What a dataset card / Croissant's responsible-AI fields say about the exported rows.

    ``licences`` ``{name: {rows, url, attribution}}``; ``label_sources`` ``{source: entries}``;
    ``phi`` ``{where: {kind: detections, redacted: n}}``; ``synthetic`` rows and ``generators``;
    ``findings`` ``{finding: {state: rows}}`` (most trusted label source per row); ``sources``,
    ``modalities``, ``text_kinds`` counts; ``retrieved`` first/last retrieval time.
    """
    import pyarrow.compute as pc

    from manifests.schema import primary_labels

    lic: dict[str, dict] = {}
    for r in table.select(["license", "license_url", "attribution"]).to_pylist():
        d = lic.setdefault(r["license"] or "(none)", {"rows": 0, "url": r["license_url"], "attribution": set()})
        d["rows"] += 1
        d["url"] = d["url"] or r["license_url"]
        if r["attribution"] and len(d["attribution"]) < 5:
            d["attribution"].add(r["attribution"])
    for d in lic.values():
        d["attribution"] = sorted(d["attribution"])
    findings: dict[str, dict[str, int]] = {}
    for labels in table["labels"].to_pylist():
        for f, s in primary_labels(labels).items():
            findings.setdefault(f, {})
            findings[f][s] = findings[f].get(s, 0) + 1
    synthetic = table.filter(pc.fill_null(table["synthetic"], False))
    ts = table["retrieved_at"]
    return {
        "rows": table.num_rows,
        "licences": dict(sorted(lic.items(), key=lambda kv: -kv[1]["rows"])),
        "label_sources": label_source_counts(table),
        "phi": phi_summary(table),
        "synthetic": synthetic.num_rows,
        "generators": [g for g in counts(synthetic, "generator") if g != "(none)"] if synthetic.num_rows else [],
        "findings": {f: findings[f] for f in sorted(findings, key=lambda f: -findings[f].get("positive", 0))},
        "sources": counts(table, "source") if table.num_rows else {},
        "modalities": counts(table, "modality") if table.num_rows else {},
        "text_kinds": counts(table, "text_kind") if table.num_rows else {},
        "retrieved": [pc.min(ts).as_py(), pc.max(ts).as_py()] if ts.null_count < table.num_rows else None,
    }


def size_category(n: int) -> str:
    """The Hugging Face Hub's ``size_categories`` bucket for ``n`` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return label
    return "100M<n<1B"


def task_categories(table: pa.Table) -> list[str]:
    """Hub task categories the rows support: labels -> image-classification, text -> image-to-text and
    text-to-image, boxes -> object-detection."""
    import pyarrow.compute as pc

    tasks = []
    if pc.sum(pc.list_value_length(table["labels"])).as_py():
        tasks.append("image-classification")
    if pc.sum(pc.list_value_length(table["boxes"])).as_py():
        tasks.append("object-detection")
    if table["text"].null_count < table.num_rows:
        tasks += ["image-to-text", "text-to-image"]
    return tasks


def phi_statement(phi: dict) -> str:
    """One paragraph on identifier handling, with the counts (never the identifier text)."""
    base = ("Identifiers: DICOM header identifiers are never copied (patient ids are hashed); burned-in "
            "text is found with OCR and redacted in the stored image; report and caption text is scrubbed "
            "of names, dates, ids, ages, phone numbers and addresses. Only the kind and position of each "
            "detection is kept, never the identifier text.")
    if not phi:
        return base + " No identifier was detected in the exported rows."
    parts = []
    for where, kinds in sorted(phi.items()):
        red = kinds.get("redacted", 0)
        total = sum(v for k, v in kinds.items() if k != "redacted")
        detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()) if k != "redacted")
        parts.append(f"{where}: {plural(total, 'detection')} ({detail}), {red} redacted")
    return base + " Detections in the exported rows: " + "; ".join(parts) + "."


def plural(n: int, word: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} {word}" + ("" if n == 1 else "s")

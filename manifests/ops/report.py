"""A self-contained HTML datasheet of a manifest, after "Datasheets for Datasets" (Gebru et al., 2021).

:func:`write_report` reads a manifest and writes one HTML file with no external resources: the
class-imbalance chart is a matplotlib PNG and the thumbnails are small JPEGs, all embedded as
base64 ``data:`` URIs; URLs (licences, sources) are shown as text, never fetched.

Sections follow the datasheet questions: motivation, composition (counts, labels, imbalance chart,
split x label table, missing values, thumbnails), collection process, preprocessing / cleaning /
labelling, uses, distribution (sources, licences, attribution) and maintenance. Whatever can be
answered from the data is; the rest says plainly what the manifest does not record.
"""

from __future__ import annotations

import base64
import html
import io
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from manifests.columnar import label_codes, read_columns
from manifests.io import read_meta, resolve_manifest, write_text_atomic
from manifests.paths import OutsideRoot, contained, image_roots
from manifests.schema import DESCRIPTIONS, SPLITS
from manifests.ops.stats import compute_file

THUMB_PX = 96
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #345}h2{margin-top:2em;border-bottom:1px solid #ccc;color:#345}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#eef}td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:4px;margin-bottom:1em}.grid figure{margin:0;text-align:center;font-size:.7em}
.note{color:#666;font-size:.9em}code{background:#f4f4f4;padding:0 3px}
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _table(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if i >= numeric_from and isinstance(v, (int, float, np.integer)):
                cells.append(f'<td class="n">{v:,}</td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def _counts(d: dict, what: str) -> str:
    if not d:
        return f'<p class="note">No {what} recorded.</p>'
    total = sum(d.values()) or 1
    return _table([what, "rows", "%"], [[k, v, f"{100 * v / total:.1f}"] for k, v in d.items()])


def imbalance_png(labels: dict[str, dict[str, int]]) -> bytes | None:
    """Horizontal bar chart of positive (and uncertain) counts per finding, as PNG bytes."""
    items = [(f, s.get("positive", 0), s.get("uncertain", 0)) for f, s in labels.items()]
    items = [it for it in items if it[1] or it[2]]
    if not items:
        return None
    items.sort(key=lambda it: it[1])
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.3 * len(items) + 1.2), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    y = np.arange(len(items))
    pos = np.array([it[1] for it in items])
    unc = np.array([it[2] for it in items])
    ax.barh(y, pos, color="#3a6ea5", label="positive")
    if unc.any():
        ax.barh(y, unc, left=pos, color="#e0a030", label="uncertain")
    ax.set_yticks(y, [it[0] for it in items])
    ax.set_xlabel("records")
    if pos.max() > 0 and pos.max() / max(pos[pos > 0].min(), 1) > 50:
        ax.set_xscale("log")
    ax.legend(loc="lower right")
    ax.set_title("Class balance (label entries per finding)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _thumb(path: Path) -> str | None:
    """Base64 JPEG thumbnail of an image file, or None when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.draft("L", (THUMB_PX * 2, THUMB_PX * 2))
            if im.mode in ("L", "RGB"):
                im = im.copy()
            elif im.mode in ("RGBA", "P", "LA", "CMYK", "1"):
                im = im.convert("RGB")
            else:  # 16-bit / float greyscale: stretch to 8 bits
                a = np.asarray(im, dtype=np.float64)
                lo, hi = float(a.min()), float(a.max())
                im = Image.fromarray(((a - lo) / (hi - lo or 1) * 255).astype(np.uint8))
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    im.thumbnail((THUMB_PX, THUMB_PX))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=70)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _phi_rows(t: pa.Table) -> np.ndarray:
    """Rows with any identifier detection or a ``phi*`` quality flag: never shown as thumbnails,
    because a redaction can be incomplete."""
    has_phi = pc.greater(pc.fill_null(pc.list_value_length(t["phi_flags"]), 0), 0)
    qf = t["quality_flags"].combine_chunks()
    flagged = np.zeros(t.num_rows, dtype=bool)
    flat = qf.flatten()
    if len(flat):
        hit = pc.fill_null(pc.starts_with(flat, "phi"), False).to_numpy(zero_copy_only=False)
        flagged[pc.list_parent_indices(qf).to_numpy()[hit]] = True
    return has_phi.to_numpy(zero_copy_only=False) | flagged


def thumbnails(path: Path, per_class: int, seed: int, outside: list[str] | None = None
               ) -> tuple[dict[str, list[tuple[str, str]]], int, int]:
    """{finding: [(key, base64 jpeg)]} for a seeded sample of records positive for each finding,
    plus (missing/unreadable files skipped, records withheld for identifiers). An ``image_path`` that
    leaves the manifest's folder (``../``, absolute, a symlink out) is never opened: its key goes to
    ``outside`` (and it counts as skipped)."""
    t = read_columns(path, ["key", "image_path", "labels", "phi_flags", "quality_flags"])
    if not t.num_rows or per_class <= 0:
        return {}, 0, 0
    withheld = _phi_rows(t)
    lc = label_codes(t["labels"])
    keys, paths = t["key"], t["image_path"]
    rng = np.random.default_rng(seed)
    base = image_roots(path)
    out: dict[str, list[tuple[str, str]]] = {}
    skipped = 0
    pos = lc.state == lc.code("state", "positive")
    for fi, finding in sorted(enumerate(lc.vocab["finding"]), key=lambda x: x[1]):
        rows = np.unique(lc.rows_of(pos & (lc.finding == fi)))
        rows = rows[~withheld[rows]]
        rng.shuffle(rows)
        got = []
        for r in rows[: per_class * 3]:  # a few spares for missing files
            rel = paths[int(r)].as_py()
            try:
                b64 = _thumb(contained(rel, base, what="image_path")) if rel else None
            except OutsideRoot:
                b64 = None
                if outside is not None:
                    outside.append(keys[int(r)].as_py())
            if b64 is None:
                skipped += 1
                continue
            got.append((keys[int(r)].as_py(), b64))
            if len(got) >= per_class:
                break
        if got:
            out[finding] = got
    return out, skipped, int(withheld.sum())


def _retrieval_range(path: Path) -> tuple[str | None, str | None]:
    col = read_columns(path, ["retrieved_at"])["retrieved_at"]
    mm = pc.min_max(col).as_py() if col.null_count < len(col) else {"min": None, "max": None}
    fmt = lambda d: d.isoformat(timespec="seconds") if d else None  # noqa: E731
    return fmt(mm["min"]), fmt(mm["max"])


def _top_values(path: Path, column: str, n: int = 10) -> dict[str, int]:
    col = read_columns(path, [column])[column]
    if pa.types.is_list(col.type):
        col = pc.list_flatten(col)
        if pa.types.is_struct(col.type):
            return {}
    if not len(col):
        return {}
    vc = pc.value_counts(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    pairs = [(v, c) for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()) if v not in (None, "")]
    return dict(sorted(pairs, key=lambda kv: -kv[1])[:n])


def _phi_summary(path: Path) -> dict[str, int]:
    col = read_columns(path, ["phi_flags"])["phi_flags"]
    flat = pc.list_flatten(col)
    if not len(flat):
        return {}
    t = pa.table({"where": pc.fill_null(pc.struct_field(flat, "where"), "?"), "kind": pc.fill_null(pc.struct_field(flat, "kind"), "?"),
                  "redacted": pc.fill_null(pc.struct_field(flat, "redacted"), False)})
    g = t.group_by(["where", "kind", "redacted"]).aggregate([([], "count_all")])
    return {f"{w} / {k} / {'redacted' if r else 'NOT redacted'}": c
            for w, k, r, c in zip(*(g[c].to_pylist() for c in ("where", "kind", "redacted", "count_all")))}


def build_html(path: str | os.PathLike, *, per_class: int = 6, seed: int = 0) -> tuple[str, dict]:
    p = resolve_manifest(path)
    st = compute_file(p)
    meta = read_meta(p)
    rows = st["rows"]
    labels = st.get("labels", {})
    png = imbalance_png(labels)
    outside: list[str] = []
    thumbs, skipped, withheld = thumbnails(p, per_class, seed, outside)
    first, last = _retrieval_range(p)
    h: list[str] = []
    add = h.append
    add(f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Datasheet: {_e(p.parent.name)}</title>"
        f"<style>{CSS}</style></head><body>")
    add(f"<h1>Datasheet: <code>{_e(p.name)}</code></h1>")
    add(f"<p class=\"note\">Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by medharvest "
        f"from <code>{_e(p)}</code>; {rows:,} records, {st.get('patients', 0):,} patients. "
        "Structure after Gebru et al., <i>Datasheets for Datasets</i> (CACM 2021).</p>")

    add('<h2 id="motivation">Motivation</h2>')
    srcs = ", ".join(st.get("by_source", {})) or "none"
    add("<p>An image–text manifest assembled by medharvest for medical-imaging research (e.g. chest X-ray "
        f"classification and GAN-based augmentation of rare classes). Sources: {_e(srcs)}. Funding and the "
        "people who created this copy are not recorded in the manifest; add them here when publishing it.</p>")

    add('<h2 id="composition">Composition</h2>')
    add(f"<p>Each record is one image with its text (report, caption or description). {rows:,} records; "
        f"synthetic records: {st.get('by_synthetic', {}).get('true', 0):,}.</p>")
    add("<h3>Records per source</h3>" + _counts(st.get("by_source", {}), "source"))
    add("<h3>Modality and view</h3>" + _counts(st.get("by_modality", {}), "modality") + _counts(st.get("by_view", {}), "view"))
    add("<h3>Text kinds</h3>" + _counts(st.get("by_text_kind", {}), "text_kind"))
    add("<h3>Labels (finding × state, all label sources)</h3>")
    states = ["positive", "uncertain", "negative"]
    add(_table(["finding", *states, "other"], [[f, *(s.get(x, 0) for x in states),
                                                sum(v for k, v in s.items() if k not in states)] for f, s in labels.items()])
        if labels else '<p class="note">No labels.</p>')
    add('<h3 id="imbalance">Class imbalance</h3>')
    if png:
        add(f'<img alt="class imbalance bar chart" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    else:
        add('<p class="note">No positive labels to plot.</p>')
    add("<h3>Split × label (records with a positive label)</h3>")
    sl = st.get("split_labels", {})
    split_names = [s for s in (*SPLITS, *sorted(set(sl) - set(SPLITS))) if s in sl]
    findings = sorted({f for d in sl.values() for f in d})
    add(_table(["finding", *split_names], [[f, *(sl[s].get(f, 0) for s in split_names)] for f in findings])
        if findings else '<p class="note">No positive labels.</p>')
    add("<h3>Records per split</h3>" + _counts(st.get("by_split", {}), "split"))
    add('<h3 id="missing">Missing values per column</h3>')
    add(_table(["column", "missing (null / empty)", "%", "meaning"],
               [[c, n, f"{100 * n / max(rows, 1):.1f}", DESCRIPTIONS.get(c, "")] for c, n in st["missing"].items()]))
    add('<h3 id="thumbnails">Examples per class</h3>')
    add(f'<p class="note">A seeded sample (seed {seed}) of up to {per_class} images per finding, '
        f"{THUMB_PX}px JPEG thumbnails; {skipped} sampled records had no readable image file and were skipped; "
        f"{withheld} records with identifier detections (<code>phi_flags</code>) are never shown, redacted or not.</p>")
    if outside:
        add(f"<p><b>{len(outside)} sampled record(s) have an <code>image_path</code> outside the manifest's folder</b> "
            f"and were not opened (e.g. {_e(', '.join(sorted(outside)[:5]))}).</p>")
    if not thumbs:
        add('<p class="note">No images available.</p>')
    for finding, items in thumbs.items():
        add(f"<h4>{_e(finding)}</h4><div class=\"grid\">")
        for key, b64 in items:
            add(f'<figure><img alt="{_e(key)}" width="{THUMB_PX}" src="data:image/jpeg;base64,{b64}">'
                f"<figcaption>{_e(key)[:28]}</figcaption></figure>")
        add("</div>")

    add('<h2 id="collection">Collection process</h2>')
    add(f"<p>Records were crawled from public web sources or imported from local copies of released datasets. "
        f"Retrieval / import times: {_e(first or 'not recorded')} to {_e(last or 'not recorded')}.</p>")
    add("<h3>Stage versions</h3>" + _counts(_top_values(p, "stage_version"), "stage_version"))

    add('<h2 id="preprocessing">Preprocessing, cleaning and labelling</h2>')
    add("<p>Images are decoded, normalised and stored content-addressed with their sha256; near-duplicates share a "
        f"<code>dup_group</code> ({rows - st['missing'].get('dup_group', rows):,} records in a duplicate group). "
        "Labels carry their <code>label_source</code> and four states; uncertain is never collapsed here.</p>")
    add("<h3>Record status</h3>" + _counts(st.get("by_status", {}), "status"))
    add("<h3>Most frequent errors</h3>" + _counts(_top_values(p, "error"), "error"))
    add("<h3>Label sources</h3>" + _counts(st.get("by_label_source", {}), "label_source"))
    add("<h3>Quality flags</h3>" + _counts(_top_values(p, "quality_flags"), "quality flag"))
    add("<h3>Identifier (PHI) detections</h3>" + _counts(_phi_summary(p), "where / kind / redacted"))

    from manifests.ops.report_pairs import pairs_section

    pairs_html = pairs_section(p, _thumb)
    if pairs_html:
        add(pairs_html)

    add('<h2 id="uses">Uses</h2>')
    split_meta = meta.get("split")
    if split_meta:
        add("<p>Splits were assigned by patient (no patient in two splits) with "
            + ", ".join(f"{_e(k)}=<code>{_e(v)}</code>" for k, v in sorted(split_meta.items())) + ".</p>")
    else:
        add("<p>No split recorded by <code>medharvest manifest split</code>.</p>")
    add("<p>Intended for research on image classification and image–text models. Labels mined from text (ner) are "
        "noisy; synthetic records must stay out of evaluation; do not attempt to re-identify patients. Check each "
        "source's licence below before any use beyond research.</p>")

    add('<h2 id="distribution">Distribution</h2>')
    lic = st.get("licences", [])
    add(_table(["source", "license", "license URL", "attribution", "rows"],
               [[r["source"], r["license"] or "(missing)", r["license_url"] or "", r["attribution"] or "", r["rows"]] for r in lic],
               numeric_from=4) if lic else '<p class="note">No licence information.</p>')
    add('<h2 id="maintenance">Maintenance</h2>')
    add("<p>Regenerate this datasheet with <code>medharvest manifest report</code> after every change to the manifest. "
        "Errata and contact: not recorded in the manifest.</p>")
    add("</body></html>")
    summary = {"rows": rows, "thumbnail_classes": len(thumbs), "thumbnails": sum(len(v) for v in thumbs.values()),
               "thumbnails_skipped": skipped, "thumbnails_withheld_phi": withheld, "thumbnails_outside": len(outside), "chart": png is not None}
    return "\n".join(h), summary


def write_report(manifest: str | os.PathLike, out: str | os.PathLike, *, per_class: int = 6, seed: int = 0) -> tuple[Path, dict]:
    text, summary = build_html(manifest, per_class=per_class, seed=seed)
    out = Path(out)
    write_text_atomic(out, text)
    return out, summary

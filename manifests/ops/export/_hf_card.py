"""The Hugging Face dataset card (``README.md``) of an ``hf`` export: YAML header + datasheet."""

from __future__ import annotations

import json
from pathlib import Path

from manifests.ops.export._describe import describe, hf_license, phi_statement, size_category, task_categories


def _cell(value) -> str:
    """A Markdown table cell: ``|`` escaped, line breaks as spaces (values come from the records)."""
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|")


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:"] + [f"- {json.dumps(v)}" for v in values]


def card_header(table, splits: list[str], name: str) -> tuple[str, dict]:
    """The YAML front matter (JSON-quoted scalars are valid YAML) and the description it came from."""
    d = describe(table)
    ids = sorted({hf_license(n if n != "(none)" else None) for n in d["licences"]}) or ["unknown"]
    lines = ["---"]
    lines += _yaml_list("license", ids)
    if "other" in ids:
        others = [n for n in d["licences"] if hf_license(n if n != "(none)" else None) == "other"]
        lines.append(f"license_name: {json.dumps('; '.join(others))}")
        url = next((d["licences"][n]["url"] for n in others if d["licences"][n]["url"]), None)
        if url:
            lines.append(f"license_link: {json.dumps(url)}")
    lines += _yaml_list("task_categories", task_categories(table) or ["image-classification"])
    lines += _yaml_list("language", ["en"])
    lines += _yaml_list("tags", ["medical", "medharvest", *[m.lower() for m in d["modalities"] if m != "(none)"]])
    lines += _yaml_list("size_categories", [size_category(table.num_rows)])
    lines.append(f"pretty_name: {json.dumps(name)}")
    lines += ["configs:", "- config_name: default", "  data_files:"]
    for s in splits:
        lines += [f"  - split: {s}", f"    path: {json.dumps(f'data/{s}-*.parquet')}"]
    lines.append("---")
    return "\n".join(lines) + "\n", d


def write_card(path: Path, kept: list[tuple[str, object]], ctx) -> None:
    """Write the card for the exported rows ``kept`` (``[(split, table)]``)."""
    import pyarrow as pa

    from manifests.io import write_text_atomic

    parts = [t for _, t in kept if t.num_rows]
    splits = [s for s, t in kept if t.num_rows]
    table = pa.concat_tables(parts) if parts else None
    if table is None:
        from manifests.schema import SCHEMA

        table = SCHEMA.empty_table()
    header, d = card_header(table, splits, ctx.name)
    body = [f"# {ctx.name}", "",
            f"Image–text records exported by medharvest from a curated manifest: {d['rows']} images.",
            "Load it with `datasets.load_dataset(\"<this directory>\")`; `image` decodes to a PIL image,",
            "`image_text` is the text describing it (the report, else the newest caption), `labels` / `positives`",
            "the findings, `boxes` the lesion boxes; every other record column keeps its manifest name.", "",
            "## Splits", "", "| split | rows |", "| --- | --- |"]
    body += [f"| {s} | {t.num_rows} |" for s, t in kept if t.num_rows]
    if len(splits) > 1:
        from manifests.ops.split import leaks

        sp = ctx.meta.get("split") or {}
        key = sp.get("group_key") or "patient_id"
        n = leaks(table, key)
        made = f"Split by `medharvest manifest split` (seed {sp.get('seed')}, group key `{key}`)" if sp else "Splits"
        body += ["", f"{made}: " + ("no group is in two splits (checked on the exported rows)." if not n else
                                    f"**{n} groups are in more than one split** (checked on the exported rows).")]
    body += ["", "## Licences", "", "Each row carries its own `license`, `license_url` and `attribution`; "
             "reuse must follow the row's terms.", "", "| licence | rows | url | attribution |",
             "| --- | --- | --- | --- |"]
    body += [f"| {_cell(n)} | {v['rows']} | {_cell(v['url'])} | {_cell('; '.join(v['attribution']))} |"
             for n, v in d["licences"].items()]
    body += ["", "## Sources", "", ", ".join(f"{k} ({v})" for k, v in d["sources"].items()) or "none"]
    body += ["", "## Labels", "", "Four states per finding (positive, negative, uncertain, not mentioned); "
             "`labels` lists each with its `label_source`; `positives` takes the most trusted source "
             "(human > dataset > model > ner > synthetic).", "",
             "Label sources (label entries): "
             + (", ".join(f"{k} {v}" for k, v in d["label_sources"].items()) or "none"),
             "", "| finding | positive | negative | uncertain |", "| --- | --- | --- | --- |"]
    body += [f"| {_cell(f)} | {s.get('positive', 0)} | {s.get('negative', 0)} | {s.get('uncertain', 0)} |"
             for f, s in d["findings"].items()]
    body += ["", "## Personal and sensitive information", "", phi_statement(d["phi"])]
    body += ["", "## Synthetic records", ""]
    if d["synthetic"]:
        body.append(f"{d['synthetic']} of {d['rows']} rows are generated images (`synthetic` = true), made by: "
                    + ", ".join(f"`{g}`" for g in d["generators"]) + ". Leave them out of evaluation "
                    "(`ds.filter(lambda r: not r['synthetic'])`).")
    else:
        body.append("None: every image is a real acquisition (`synthetic` is false on every row).")
    write_text_atomic(path, header + "\n" + "\n".join(body) + "\n")

"""``hf``: a Hugging Face ``datasets`` dataset: Parquet shards with an ``Image`` feature + a card.

Layout (what ``datasets.load_dataset(DIR)`` and the Hub read)::

    DIR/README.md                     dataset card: YAML header (license, task_categories,
                                      size_categories, configs -> data files per split) + datasheet
    DIR/data/<split>-NNNNN.parquet    splits train / validation / test (``_common.split_groups``)

Each row: ``image`` (``{bytes, path}``, the stored PNG's bytes; decoded to PIL by ``datasets``),
the record's columns (text, captions, labels, boxes, entities, provenance, split, synthetic),
``image_text`` (the record's text, else its newest ``ok`` caption: ``manifests.schema.record_text``)
and ``positives`` (the positive findings, most trusted label source first). Rows without a readable image are skipped
and counted. The ``Image`` feature is declared the way ``datasets`` itself writes it, in the
Parquet schema metadata (``huggingface`` -> ``info.features``), so the files are written with
pyarrow and ``datasets`` is not a run-time dependency (it pulls in huggingface-hub, httpx, dill,
multiprocess and xxhash for what is Parquet plus one JSON key); the tests open the output with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.ops.export._common import HF_SPLITS, ROW_GROUP, ImageSource, ParquetShards, remove_stale, split_groups

#: record columns not copied (the image is embedded; exported rows are all status ok)
DROP = ("image_path", "status", "error")


def _feature(t) -> object:
    """A ``datasets`` feature (its JSON form) for an Arrow type: Value, [feature] or {name: feature}."""
    import pyarrow as pa

    if pa.types.is_list(t):
        return [_feature(t.value_type)]
    if pa.types.is_struct(t):
        return {t.field(i).name: _feature(t.field(i).type) for i in range(t.num_fields)}
    return {"dtype": str(t), "_type": "Value"}


def hf_schema(columns):
    """The Parquet schema: ``image`` struct first, then ``columns``, with the features metadata."""
    import pyarrow as pa

    from manifests.schema import SCHEMA

    fields = [pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))]
    fields += [SCHEMA.field(c) for c in columns]
    fields.append(pa.field("image_text", pa.string()))
    fields.append(pa.field("positives", pa.list_(pa.string())))
    features = {"image": {"_type": "Image"}}
    features.update({f.name: _feature(f.type) for f in fields[1:]})
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return pa.schema(fields, metadata=meta)


class HfExport(Exporter):
    name = "hf"
    summary = "Hugging Face dataset: Parquet with an Image feature per split + dataset card README.md"
    opens_with = "datasets.load_dataset(DIR)"

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        from manifests.ops.export._hf_card import write_card
        from manifests.schema import primary_labels, record_text

        columns = [c for c in table.column_names if c not in DROP]
        schema = hf_schema(columns)
        data_dir = out / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        images = ImageSource(ctx.images_root)
        written: dict[str, list[str]] = {}
        kept = []
        for split, part in split_groups(table, HF_SPLITS):
            mask = []
            with ParquetShards(data_dir, schema, ctx.shard_size, lambda i, s=split: f"{s}-{i:05d}.parquet") as shards:
                for batch in part.to_batches(max_chunksize=ROW_GROUP):
                    for row in batch.to_pylist():
                        data, _ = images.read(row)
                        mask.append(data is not None)
                        if data is None:
                            continue
                        rec = {c: row[c] for c in columns}
                        rec["image"] = {"bytes": data, "path": Path(row["image_path"]).name}
                        rec["image_text"] = record_text(row)[0]
                        rec["positives"] = [f for f, s in primary_labels(row["labels"]).items() if s == "positive"]
                        shards.add(rec)
            written[split] = shards.names
            kept.append((split, part.filter(_bools(mask))))
        stale = remove_stale(data_dir, r"[a-z]+-\d{5}\.parquet", {n for v in written.values() for n in v})
        write_card(out / "README.md", kept, ctx)
        rows = sum(p.num_rows for _, p in kept)
        return {"rows": rows, "skipped": dict(images.skipped),
                "splits": {s: p.num_rows for s, p in kept if p.num_rows},
                "shards": {s: len(n) for s, n in written.items() if n}, "stale_removed": stale}


def _bools(mask: list[bool]):
    import pyarrow as pa

    return pa.array(mask, pa.bool_())

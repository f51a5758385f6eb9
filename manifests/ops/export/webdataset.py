"""``webdataset``: tar shards of ``<key>.<ext>`` image + ``<key>.json`` record (+ ``<key>.txt`` text).

``.txt`` is the text that describes the image: the record's own text, else its newest ``ok``
caption (``manifests.schema.record_text``). The layout large-scale trainers stream (webdataset, torchdata, img2dataset's output): one directory
of shards named ``<split>-NNNNNN.tar`` (``train``/``val``/``test``; see ``_common.split_groups``),
each with at most ``shard_size`` samples, members in manifest order, deterministic tar headers
(mtime 0, uid/gid 0) so the same manifest gives byte-identical shards.

Keys: webdataset splits a member name at its first ``.`` into sample key and extension, and ``/``
would make directories, so the record key (``sample:abc``, ``pmc:PMC1/fig.2``) becomes
``_common.safe_key`` (``%XX`` escapes, reversible); the ``.json`` keeps the original ``key``.
Written with the standard library's ``tarfile``; ``webdataset.WebDataset`` reads it back.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from manifests.ops.export import ExportContext, Exporter
from manifests.schema import record_text
from manifests.ops.export._common import (AtomicShards, ImageSource, image_suffix, json_safe, remove_stale, safe_key,
                                          split_groups)

SPLIT_NAMES = {"train": "train", "val": "val", "test": "test"}
#: record columns left out of the ``.json`` (the image is the member itself)
DROP = ("image_path",)


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def sample_json(row: dict) -> dict:
    """The ``.json`` member: the record (original ``key`` included) with its primary labels."""
    from manifests.schema import primary_labels

    rec = {k: v for k, v in json_safe(row).items() if k not in DROP}
    rec["label_states"] = primary_labels(row.get("labels"))
    return rec


class _Shards(AtomicShards):
    """Writes ``<split>-NNNNNN.tar`` files one after another, each atomically, streaming members."""

    def __init__(self, out: Path, split: str, size: int):
        super().__init__(out, size)
        self.split = split

    def shard_name(self, i: int) -> str:
        return f"{self.split}-{i:06d}.tar"

    def _open(self, tmp: Path):
        return tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT)

    def add(self, key: str, row: dict, data: bytes) -> None:
        tar = self._writer()
        _member(tar, f"{key}.{image_suffix(row.get('image_path'))}", data)
        _member(tar, f"{key}.json", json.dumps(sample_json(row), ensure_ascii=False, sort_keys=True).encode())
        text, _ = record_text(row)
        if text:
            _member(tar, f"{key}.txt", text.encode())
        self._counted()


class WebDatasetExport(Exporter):
    name = "webdataset"
    summary = "tar shards of key.png + key.json (+ key.txt) per split, for streaming trainers"
    opens_with = "webdataset.WebDataset('DIR/train-{000000..000003}.tar')"

    def write(self, table, out: Path, ctx: ExportContext) -> dict:
        import pyarrow.compute as pc

        from manifests.errors import ManifestError

        if pc.count_distinct(table["key"]).as_py() != table.num_rows:
            raise ManifestError("duplicate keys: webdataset would merge their samples; "
                                "run 'medharvest manifest validate' (or merge, which de-duplicates)")
        out.mkdir(parents=True, exist_ok=True)
        images = ImageSource(ctx.images_root)
        written: dict[str, list[str]] = {}
        rows = 0
        for split, part in split_groups(table, SPLIT_NAMES):
            with _Shards(out, split, ctx.shard_size) as shards:
                for batch in part.to_batches(max_chunksize=64):
                    for row in batch.to_pylist():
                        data, _ = images.read(row)
                        if data is not None:
                            shards.add(safe_key(row["key"]), row, data)
                            rows += 1
            written[split] = shards.names
        stale = remove_stale(out, r"[a-z]+-\d{6}\.tar", {n for names in written.values() for n in names})
        return {"rows": rows, "skipped": dict(images.skipped),
                "shards": {s: len(n) for s, n in written.items() if n}, "stale_removed": stale}

"""Pack a manifest's images at S px into one folder (images/ + manifest.parquet), to carry a study's
input to another machine (e.g. the GPU box, whose upload is size-limited).

    uv run --frozen python scripts/pack_manifest.py MANIFEST DEST --size 64 [--keep-ok]

Pixels are exactly what the study would compute at S px (training.dataset_view.decode_image);
``image_sha256`` / ``width`` / ``height`` describe the packed file; ``meta.packed_from`` records the
source manifest. Not a stage of the pipeline: a transport step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pyarrow as pa
from PIL import Image

from manifests.io import read_manifest, resolve_manifest, write_manifest
from training.dataset_view import decode_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("dest")
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    src = resolve_manifest(a.manifest)
    dest = Path(a.dest)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    table = read_manifest(src)
    table = table.filter(pa.compute.equal(table.column("status"), "ok"))
    paths, shas = [], []
    for rel, sha in zip(table.column("image_path").to_pylist(), table.column("image_sha256").to_pylist()):
        out = dest / "images" / f"{sha}.png"
        if not out.exists():
            Image.fromarray(decode_image(src.parent / rel, a.size)).save(out, optimize=True)
        paths.append(f"images/{sha}.png")
        shas.append(hashlib.sha256(out.read_bytes()).hexdigest())
    for name, values, typ in (("image_path", paths, pa.string()), ("image_sha256", shas, pa.string()),
                              ("width", [a.size] * len(paths), table.schema.field("width").type),
                              ("height", [a.size] * len(paths), table.schema.field("height").type)):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, typ))
    write_manifest(table, dest / "manifest.parquet", meta={"packed_from": {"manifest": str(src), "size": a.size}})
    print(json.dumps({"rows": table.num_rows, "dest": str(dest), "size": a.size}))


if __name__ == "__main__":
    main()

"""Golden export metadata: what each format says about the shared export case.

For the manifest of ``tests/manifests/export_cases.py``: the ``hf`` dataset card, the ``monai``
datalist, the ``coco`` JSON, the ``croissant`` JSON-LD and the ``webdataset`` member names plus its
first sample's JSON, compared with ``golden/export/`` (OUR earlier output). Volatile values are
normalised first: dates (COCO ``info``, Croissant ``datePublished``) and the records file's sha256
(the Parquet footer names the pyarrow version). The read-back tests (``test_export.py``) check that
the outputs open; this one shows, as a reviewable diff, any change in what they say.

Regenerate after an intended change, then review the diff:
``uv run python -m tests.manifests.test_export_golden --regen``
"""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from manifests.io import read_manifest
from manifests.ops.export import ExportContext, export
from tests.manifests.export_cases import build_rich

GOLDEN = Path(__file__).parent / "golden" / "export"
#: format -> (--out name, golden file name)
CASES = {"hf": ("hf", "hf_README.md"), "monai": ("datalist.json", "monai_datalist.json"),
         "coco": ("coco.json", "coco.json"), "croissant": ("cr", "croissant.json"),
         "webdataset": ("wds", "webdataset.json")}


def _json(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def render(tmp: Path) -> dict[str, str]:
    """golden file name -> normalised text, for every case."""
    manifest = build_rich(tmp / "m")
    table = read_manifest(manifest)
    out = {}
    for fmt, (name, golden) in CASES.items():
        path = tmp / "out" / name
        export(table, path, fmt, ctx=ExportContext(images_root=manifest.parent, name="rich", shard_size=4,
                                                   meta={"split": {"seed": 4, "group_key": "patient_id"}}))
        if fmt == "hf":
            out[golden] = (path / "README.md").read_text()
        elif fmt == "monai":
            out[golden] = _json(json.loads(path.read_text()))
        elif fmt == "coco":
            doc = json.loads(path.read_text())
            doc["info"].update(year="YEAR", date_created="DATE")
            out[golden] = _json(doc)
        elif fmt == "croissant":
            doc = json.loads((path / "croissant.json").read_text())
            doc["datePublished"] = "DATE"
            doc["distribution"][0]["sha256"] = "SHA256"
            out[golden] = _json(doc)
        else:
            members = {}
            first = None
            for shard in sorted(path.glob("*.tar")):
                with tarfile.open(shard) as tar:
                    members[shard.name] = tar.getnames()
                    if first is None:
                        first = json.loads(tar.extractfile(tar.getnames()[1]).read())
            out[golden] = _json({"members": members, "first_json": first})
    return out


def test_export_metadata_matches_golden(tmp_path):
    got = render(tmp_path)
    for name, text in got.items():
        golden = GOLDEN / name
        if not golden.exists():
            pytest.fail(f"no golden {golden}; run: uv run python -m tests.manifests.test_export_golden --regen")
        assert text == golden.read_text(), f"{name} differs from its golden file (regenerate deliberately if intended)"


def _regen() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in render(Path(tmp)).items():
            (GOLDEN / name).write_text(text)
            print(f"wrote {GOLDEN / name} ({len(text)} characters)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        sys.exit(__doc__)
    _regen()

"""Partitioned manifests (``manifest.parquet/part-*.parquet``): every reader accepts them, and
pandas, pyarrow.dataset and Hugging Face ``datasets`` open them without glue. Plus the executor
registry's usage errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests.errors import UsageError
from manifests.io import (MANIFEST_NAME, iter_batches, manifest_parts, num_rows, read_manifest, read_meta, resolve_manifest,
                          write_manifest)
from manifests.schema import from_records


def _records(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append({
            "key": f"nih:{i:05d}", "source": "nih", "source_id": f"{i:05d}", "patient_id": f"p{i // 3}",
            "image_path": f"images/{i:02x}/{i:064x}.png", "image_sha256": f"{i:064x}", "status": "ok",
            "labels": [{"finding": "Effusion" if i % 4 == 0 else "No Finding", "state": "positive",
                        "label_source": "dataset", "annotator": None}],
            "license": "CC0-1.0", "modality": "DX",
        })
    return out


@pytest.fixture
def both(tmp_path):
    """The same 50-row manifest as one file and as 4 parts (13 rows each, the last 11)."""
    table = from_records(_records(50))
    one = write_manifest(table, tmp_path / "one" / MANIFEST_NAME, meta={"note": "x"})
    parts = write_manifest(table, tmp_path / "parts" / MANIFEST_NAME, meta={"note": "x"}, part_rows=13)
    return one, parts


def test_layout_and_round_trip(both):
    one, parts = both
    assert parts.is_dir() and [p.name for p in manifest_parts(parts)] == [f"part-{i:05d}.parquet" for i in range(4)]
    assert [pq.ParquetFile(p).metadata.num_rows for p in manifest_parts(parts)] == [13, 13, 13, 11]
    assert resolve_manifest(parts.parent) == parts and resolve_manifest(parts) == parts
    assert num_rows(parts) == num_rows(one) == 50
    assert read_manifest(parts).to_pylist() == read_manifest(one).to_pylist()
    assert read_manifest(parts, columns=["key", "split"]).num_rows == 50
    assert read_meta(parts)["note"] == "x"
    assert all(json.loads(pq.read_schema(p).metadata[b"medharvest"])["note"] == "x" for p in manifest_parts(parts))
    batches = list(iter_batches(parts, ["key"], batch_size=8))
    assert max(b.num_rows for b in batches) <= 8 and sum(b.num_rows for b in batches) == 50


def test_replacing_a_file_with_parts_and_back(tmp_path):
    t = from_records(_records(10))
    p = write_manifest(t, tmp_path / MANIFEST_NAME)
    write_manifest(t, p, part_rows=4)
    assert p.is_dir() and len(manifest_parts(p)) == 3
    write_manifest(t.slice(0, 5), p)
    assert p.is_file() and read_manifest(p).num_rows == 5
    assert sorted(x.name for x in tmp_path.iterdir()) == [MANIFEST_NAME]  # no temp or .old left behind


def test_third_party_readers_open_parts_without_glue(both):
    import pandas as pd
    import pyarrow.dataset as pads

    _, parts = both
    df = pd.read_parquet(parts)
    assert len(df) == 50 and sorted(df["key"]) == [f"nih:{i:05d}" for i in range(50)]
    assert pads.dataset(parts, format="parquet").count_rows() == 50
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_parquet(str(parts / "part-*.parquet"), cache_dir=str(parts.parent / "hf_cache"))
    assert ds.num_rows == 50 and ds[0]["labels"][0]["finding"] in ("Effusion", "No Finding")
    dd = datasets.load_dataset("parquet", data_dir=str(parts), cache_dir=str(parts.parent / "hf_cache2"))
    assert dd["train"].num_rows == 50


def test_every_manifest_operation_accepts_parts(both, tmp_path):
    from manifests.ops.filter import filter_table, merge_files
    from manifests.ops.report import write_report
    from manifests.ops.split import SplitConfig, split_file
    from manifests.ops.stats import compute_file
    from manifests.ops.validate import validate_manifest

    one, parts = both
    r1, r2 = validate_manifest(one, files=False), validate_manifest(parts, files=False)
    assert r1.rows == r2.rows == 50 and r1.problems.to_pylist() == r2.problems.to_pylist()
    assert compute_file(parts) == compute_file(one)
    d1, s1 = split_file(one, tmp_path / "s1", SplitConfig(seed=3))
    d2, s2 = split_file(parts, tmp_path / "s2", SplitConfig(seed=3))
    assert d2.is_dir() and len(manifest_parts(d2)) == 4  # the layout follows the input
    assert read_manifest(d1, ["key", "split"]).to_pylist() == read_manifest(d2, ["key", "split"]).to_pylist()
    assert s1["split_labels"] == s2["split_labels"]
    from medharvest.cli import main

    assert main(["manifest", "export", str(parts), "--format", "jsonl", "--out", str(tmp_path / "x.jsonl"), "-q"]) == 0
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == 50
    assert filter_table(read_manifest(parts), "label('Effusion') == 'positive'").num_rows == 13
    merge_files([parts, one], tmp_path / "merged" / MANIFEST_NAME)
    assert read_manifest(tmp_path / "merged").num_rows == 50
    html, _ = write_report(parts, tmp_path / "report.html")
    assert "nih" in html.read_text()


def test_parts_with_clashing_schemas_are_a_clear_error(tmp_path):
    from manifests.errors import ManifestError

    d = tmp_path / MANIFEST_NAME
    d.mkdir()
    pq.write_table(pa.table({"key": ["a"], "width": [1]}), d / "part-00000.parquet")
    pq.write_table(pa.table({"key": ["b"], "width": ["wide"]}), d / "part-00001.parquet")
    with pytest.raises(ManifestError, match="do not share a schema"):
        read_manifest(d)


def test_executor_registry_did_you_mean():
    from manifests.executor import EXECUTORS, LocalExecutor, RayExecutor, make_executor

    assert EXECUTORS == {"local": LocalExecutor, "ray": RayExecutor}
    with pytest.raises(UsageError, match="unknown executor 'rey'; did you mean 'ray'"):
        make_executor("rey")
    with pytest.raises(UsageError, match="--ray-address needs --executor ray"):
        make_executor("local", "auto")
    with make_executor("local") as ex:
        assert list(ex.map(abs, [-1, -2])) == [(0, 1), (1, 2)] and not ex.distributed


def test_importing_the_hub_does_not_load_ray():
    import subprocess
    import sys

    code = "import manifests.executor, manifests.io, sys; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"

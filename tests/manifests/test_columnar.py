import numpy as np
import pyarrow as pa

from manifests.columnar import label_codes, present_pairs, read_columns, read_full, write_full
from manifests.io import read_manifest, read_meta, write_manifest
from manifests.schema import from_records, labels_list
from tests.manifests.conftest import make_records


def test_label_codes_plain_and_dictionary_agree(tmp_path):
    recs = make_records(None, 50, seed=3)
    recs[3]["labels"] = [{"finding": None, "state": "positive", "label_source": None, "annotator": "x"}]
    recs[4]["labels"] = []
    table = from_records(recs)
    path = write_manifest(table, tmp_path / "manifest.parquet")
    plain = label_codes(table["labels"])
    lean = label_codes(read_columns(path, ["labels"])["labels"])
    for lc in (plain, lean):
        assert len(lc) == sum(len(r["labels"]) for r in recs)
        rows = lc.rows_of(np.ones(len(lc), bool))
        assert list(rows) == [i for i, r in enumerate(recs) for _ in r["labels"]]
        got = [(lc.vocab["finding"][f] if f >= 0 else None, lc.vocab["state"][s]) for f, s in zip(lc.finding, lc.state)]
        assert got == [(lab["finding"], lab["state"]) for r in recs for lab in r["labels"]]
        assert lc.values("label_source", lc.rows_of(np.ones(len(lc), bool)) == 3).to_pylist() == [None]
        assert not lc.legal_mask("finding", ["Effusion", "Nodule"])[lc.rows_of(np.ones(len(lc), bool)) == 3].any()


def test_read_columns_defaults_for_absent_columns(tmp_path):
    t = from_records(make_records(None, 3)).select(["key", "source", "source_id"])
    import pyarrow.parquet as pq

    pq.write_table(t, tmp_path / "manifest.parquet")
    out = read_columns(tmp_path, ["key", "status", "synthetic", "labels", "split"])
    assert out["status"].to_pylist() == ["ok"] * 3 and out["synthetic"].to_pylist() == [False] * 3
    assert out["labels"].to_pylist() == [[]] * 3 and out["split"].null_count == 3


def test_full_round_trip_keeps_data_and_metadata(tmp_path):
    recs = make_records(None, 20, seed=5)
    recs[0]["labels"] = labels_list({"Mass": "uncertain"}, "human", annotator="rad1")
    src = write_manifest(from_records(recs), tmp_path / "a" / "manifest.parquet", meta={"origin": "test"})
    t = read_full(src)
    assert pa.types.is_dictionary(t.schema.field("labels").type.value_type.field("finding").type)
    dst = write_full(t, tmp_path / "b", meta={"extra": 1})
    assert read_manifest(dst).equals(read_manifest(src))
    assert read_meta(dst) == {"origin": "test", "extra": 1}
    assert read_manifest(dst)["labels"][0].as_py()[0]["annotator"] == "rad1"


def test_present_pairs_both_paths():
    a = np.array([3, 1, 3, 0, 1])
    b = np.array([2, 0, 2, 1, 0])
    small = present_pairs(a, b, 4, 3)
    assert [list(x) for x in small] == [[0, 1, 3], [1, 0, 2]]
    big = present_pairs(a, b, 10**5, 10**3)   # over the dense limit: np.unique path
    assert [list(x) for x in big] == [[0, 1, 3], [1, 0, 2]]

from manifests.schema import from_records, labels_list
from manifests.ops.stats import compute, compute_file
from tests.manifests.conftest import make_records, write


def test_counts_from_a_file_match_the_records(tmp_path):
    recs = make_records(tmp_path, 20, seed=1)
    recs[0].update(status="error", error="x", split="train")
    recs[1].update(synthetic=True, split="train", labels=labels_list({"Hernia": "uncertain"}, "synthetic"))
    recs[2].update(split="test", license=None)
    st = compute_file(write(tmp_path, recs))
    assert st["rows"] == 20
    assert st["by_source"] == {"sample": 20}
    assert st["by_status"] == {"ok": 19, "error": 1}
    assert st["by_split"] == {"(missing)": 17, "train": 2, "test": 1}
    assert st["by_synthetic"] == {"false": 19, "true": 1}
    assert st["by_license"] == {"CC0": 19, "(missing)": 1}
    assert st["patients"] == len({r["patient_id"] for r in recs})
    assert st["labels"]["Hernia"] == {"negative": 19, "uncertain": 1}
    n_eff = sum(1 for r in recs for lab in r["labels"] if lab["finding"] == "Effusion" and lab["state"] == "positive")
    assert st["labels"]["Effusion"].get("positive", 0) == n_eff
    assert st["by_label_source"]["synthetic"] == 1
    assert st["missing"]["phash"] == 20 and st["missing"]["key"] == 0 and st["missing"]["license"] == 1
    assert st["missing"]["entities"] == 20 and st["missing"]["labels"] == 0
    assert {(d["source"], d["license"]): d["rows"] for d in st["licences"]} == {("sample", "CC0"): 19, ("sample", None): 1}


def test_split_labels_count_rows_once_per_finding():
    recs = make_records(None, 3)
    recs[0].update(split="train", labels=labels_list({"Mass": "positive"}, "dataset") + labels_list({"Mass": "positive"}, "ner"))
    recs[1].update(split="val", labels=labels_list({"Mass": "positive", "Nodule": "negative"}, "dataset"))
    recs[2].update(split=None, labels=labels_list({"Mass": "negative"}, "dataset"))
    st = compute(from_records(recs))
    assert st["split_labels"] == {"train": {"Mass": 1}, "val": {"Mass": 1}}
    assert st["labels"]["Mass"] == {"positive": 3, "negative": 1}


def test_empty_manifest(tmp_path):
    st = compute_file(write(tmp_path, []))
    assert st["rows"] == 0 and st["labels"] == {} and st["split_labels"] == {}

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from manifests.errors import StageError, UsageError
from manifests.io import read_manifest, read_meta
from manifests.schema import SPLITS, from_records, labels_list
from manifests.ops.split import SplitConfig, assign, check_grouping, connected_components, leaks, split_file
from manifests.ops.validate import validate_manifest
from tests.manifests.conftest import make_records


def random_manifest(rng: random.Random, n: int) -> pa.Table:
    """Random records: patients (some missing), studies, dup groups across patients, synthetic rows,
    labels of random findings and states, official splits."""
    n_pat = rng.randint(1, max(1, n // 2))
    recs = []
    for i in range(n):
        pid = f"P{rng.randrange(n_pat)}" if rng.random() > 0.1 else rng.choice([None, ""])
        sid = f"S{rng.randrange(n)}" if rng.random() > 0.3 else None
        states = {f: rng.choice(["positive", "negative", "uncertain"])
                  for f in rng.sample(["Hernia", "Effusion", "Mass", "No Finding"], rng.randint(0, 2))}
        recs.append({
            "key": f"s:{i}", "source": "s", "source_id": str(i), "patient_id": pid, "study_id": sid,
            "dup_group": f"D{rng.randrange(max(1, n // 5))}" if rng.random() < 0.2 else None,
            "synthetic": rng.random() < 0.05, "labels": labels_list(states, "dataset"),
            "split": rng.choice([None, "train", "val", "test"]),
        })
    return from_records(recs)


def groups_in_one_split(table: pa.Table, column: str) -> bool:
    t = table.filter(pc.invert(pc.or_kleene(pc.is_null(table[column]), pc.equal(table[column], ""))))
    g = t.group_by(column).aggregate([("split", "count_distinct")])
    return all(c <= 1 for c in g["split_count_distinct"].to_pylist())


@pytest.mark.parametrize("keep_official", [False, True])
def test_property_no_group_and_no_dup_group_in_two_splits(keep_official):
    rng = random.Random(1234 + keep_official)
    for trial in range(60):
        n = rng.choice([0, 1, 2, 3, 7, 20, 50, 120, 300])
        table = random_manifest(rng, n)
        cfg = SplitConfig(seed=rng.randrange(10**6), stratify=rng.random() < 0.7, keep_official=keep_official,
                          ratios=rng.choice([(0.7, 0.15, 0.15), (0.8, 0.1, 0.1), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0)]))
        out, summary = assign(table, cfg)
        assert out.num_rows == n
        assert set(out["split"].to_pylist()) <= set(SPLITS), trial
        assert leaks(out) == 0, (trial, n, cfg)
        assert groups_in_one_split(out, "patient_id"), trial
        assert groups_in_one_split(out, "dup_group"), trial
        synth = out.filter(pc.equal(out["synthetic"], True))
        assert set(synth["split"].to_pylist()) <= {"train"}, trial
        assert sum(summary["rows_per_split"].values()) == n
        # untouched columns
        assert out.drop_columns(["split"]).equals(table.drop_columns(["split"]))


def test_determinism_and_seed_matters():
    table = random_manifest(random.Random(7), 400)
    a, _ = assign(table, SplitConfig(seed=3))
    b, _ = assign(table, SplitConfig(seed=3))
    c, _ = assign(table, SplitConfig(seed=4))
    assert a["split"].equals(b["split"])
    assert not a["split"].equals(c["split"])


def test_row_order_does_not_change_the_split():
    table = random_manifest(random.Random(8), 200)
    perm = np.random.default_rng(0).permutation(table.num_rows)
    a, _ = assign(table, SplitConfig(seed=5))
    b, _ = assign(table.take(perm), SplitConfig(seed=5))
    assert dict(zip(a["key"].to_pylist(), a["split"].to_pylist())) == dict(zip(b["key"].to_pylist(), b["split"].to_pylist()))


def test_dup_group_pulls_two_patients_together():
    recs = make_records(None, 200, patients=100, seed=2)
    for r in recs[:2]:
        r["dup_group"] = "D-same"
    recs[0]["patient_id"], recs[1]["patient_id"] = "PA", "PB"
    for seed in range(20):
        out, summary = assign(from_records(recs), SplitConfig(seed=seed))
        s = dict(zip(out["patient_id"].to_pylist(), out["split"].to_pylist()))
        assert s["PA"] == s["PB"]
        assert summary["dup_linked_groups"] >= 1


def rare_counts(recs, out, finding="Hernia"):
    rare = [s for s, r in zip(out["split"].to_pylist(), recs) if r["labels"][0]["finding"] == finding]
    return {s: rare.count(s) for s in SPLITS}, len(rare)


def test_stratification_balances_a_rare_label():
    recs = make_records(None, 3000, patients=10**9, seed=3, rare="Hernia", rare_rate=0.02)
    out, _ = assign(from_records(recs), SplitConfig(seed=11))
    counts, n_rare = rare_counts(recs, out)
    assert n_rare > 40
    for s, r in zip(SPLITS, (0.7, 0.15, 0.15)):
        assert abs(counts[s] - r * n_rare) <= 1.5, counts
    rows = {s: out["split"].to_pylist().count(s) for s in SPLITS}
    assert abs(rows["train"] - 2100) <= 3 and abs(rows["val"] - 450) <= 3


def test_stratification_beats_plain_group_shuffle_on_a_rare_label():
    recs = make_records(None, 1500, patients=600, seed=5, rare="Hernia", rare_rate=0.02)
    table = from_records(recs)
    err = {True: 0.0, False: 0.0}
    for seed in range(15):
        for stratify in (True, False):
            counts, n_rare = rare_counts(recs, assign(table, SplitConfig(seed=seed, stratify=stratify))[0])
            err[stratify] += sum(abs(counts[s] - r * n_rare) for s, r in zip(SPLITS, (0.7, 0.15, 0.15)))
    assert err[True] < 0.6 * err[False], err


def test_missing_patient_falls_back_to_study_then_key():
    recs = make_records(None, 6)
    recs[0]["patient_id"] = None
    recs[1].update(patient_id="", study_id=None)
    recs[2].update(patient_id=None, study_id="S-shared")
    recs[3].update(patient_id=None, study_id="S-shared")
    out, summary = assign(from_records(recs), SplitConfig(seed=0))
    assert summary["group_fallback"] == {"patient_id": 2, "study_id": 3, "key": 1}
    assert out["split"][2] == out["split"][3]


def test_keep_official_and_synthetic_train():
    recs = make_records(None, 60, patients=30, seed=4)
    for r in recs:
        if r["patient_id"] == "P0":
            r["split"] = "test"
    recs[-1].update(patient_id="P-syn", synthetic=True, split="test")
    out, summary = assign(from_records(recs), SplitConfig(seed=1, keep_official=True))
    got = dict(zip(out["key"].to_pylist(), out["split"].to_pylist()))
    assert all(got[r["key"]] == "test" for r in recs if r["patient_id"] == "P0")
    assert got[recs[-1]["key"]] == "train"
    assert summary["official_conflicts"] == 0


def test_split_file_records_seed_and_key_in_metadata(tmp_path, manifest):
    path, summary = split_file(manifest, tmp_path / "out" / "manifest.parquet", SplitConfig(seed=9, group_key="patient_id"))
    meta = read_meta(path)["split"]
    assert meta["seed"] == 9 and meta["group_key"] == "patient_id" and meta["ratios"] == [0.7, 0.15, 0.15]
    out = read_manifest(path)
    assert out.num_rows == 30 and leaks(out) == 0
    assert out.drop_columns(["split", "image_path"]).equals(read_manifest(manifest).drop_columns(["split", "image_path"]))
    # image_path now relative to the new manifest's directory: the files still validate
    assert out["image_path"][0].as_py().startswith("../")
    assert validate_manifest(path).ok
    assert sum(sum(d.values()) for d in summary["split_labels"].values()) > 0


def test_bad_config_is_a_usage_error():
    with pytest.raises(UsageError, match="did you mean 'patient_id'"):
        SplitConfig(group_key="patiend_id")
    with pytest.raises(UsageError, match="sum"):
        SplitConfig(ratios=(0.5, 0.2, 0.2))


def test_check_grouping_detects_a_leak():
    with pytest.raises(StageError):
        check_grouping(np.array([0, 1]), np.array([5, 5]), "group")


def test_connected_components_chain():
    # 0-1, 1-2, 3-4, 5 alone, and a long chain 6..20 given in reverse
    u = np.array([0, 1, 3] + list(range(20, 6, -1)))
    v = np.array([1, 2, 4] + list(range(19, 5, -1)))
    lab = connected_components(21, u, v)
    assert list(lab[:6]) == [0, 0, 0, 3, 3, 5]
    assert set(lab[6:]) == {6}


def test_a_giant_dup_group_is_kept_whole_and_warned_about():
    recs = make_records(None, 100, patients=50, seed=8)
    for r in recs[:80]:
        r["dup_group"] = "D-chain"
    out, summary = assign(from_records(recs), SplitConfig(seed=0))
    assert len(set(out["split"].to_pylist()[:80])) == 1
    assert summary["largest_component_rows"] >= 80
    assert summary["warnings"] and "dup_group" in summary["warnings"][0]
    _, ok = assign(from_records(make_records(None, 100, patients=50, seed=8)), SplitConfig(seed=0))
    assert ok["warnings"] == []


def test_keep_official_chestxray14_protocol():
    """Official test list kept; the official train+val pool is split into train/val, never test."""
    recs = make_records(None, 600, patients=200, seed=12)
    for r in recs:
        r["split"] = "test" if int(r["patient_id"][1:]) % 4 == 0 else "train"
    out, summary = assign(from_records(recs), SplitConfig(seed=3, keep_official=True))
    got = out["split"].to_pylist()
    official = [r["split"] for r in recs]
    assert all(g == "test" for g, o in zip(got, official) if o == "test")
    assert all(g in ("train", "val") for g, o in zip(got, official) if o == "train")
    # the test list holds more than 15 %: the pool is cut train:val = 0.7:0.15
    pool = official.count("train")
    assert 0 < got.count("val") and abs(got.count("val") - pool * 0.15 / 0.85) <= 15, summary["rows_per_split"]
    assert leaks(out) == 0


@pytest.mark.parametrize("seed", range(12))
def test_fold_codes_group_patients_and_dup_groups_and_keep_synthetic_in_train(seed):
    from manifests.ops.split import fold_codes

    table = random_manifest(random.Random(seed), 120)
    f = fold_codes(table, 4, seed=seed)
    synth = np.array(table["synthetic"].to_pylist(), dtype=bool)
    foldcol = table.set_column(table.schema.get_field_index("split"), "split",
                               pa.array([str(x) for x in f.tolist()]))
    assert groups_in_one_split(foldcol, "patient_id") and groups_in_one_split(foldcol, "dup_group")
    assert (f[synth] == -1).all()        # a synthetic row's component trains in every fold
    assert set(f[f >= 0].tolist()) <= {0, 1, 2, 3}


def test_fold_codes_spread_a_rare_label_and_depend_on_the_seed():
    from manifests.ops.split import fold_codes

    recs = make_records(None, 1500, patients=600, seed=5, rare="Hernia", rare_rate=0.02)
    table = from_records(recs)
    rare = np.array([any(lab["finding"] == "Hernia" and lab["state"] == "positive" for lab in r["labels"])
                     for r in recs])
    f = fold_codes(table, 5, seed=1)
    per_fold = np.bincount(f[rare], minlength=5)
    assert rare.sum() >= 25 and per_fold.max() - per_fold.min() <= 2, per_fold
    rows = np.bincount(f, minlength=5)
    assert rows.max() - rows.min() <= 0.1 * rows.mean(), rows
    assert np.array_equal(f, fold_codes(table, 5, seed=1)) and not np.array_equal(f, fold_codes(table, 5, seed=2))
    with pytest.raises(UsageError, match="at least 2 folds"):
        fold_codes(table, 1)

import json
import subprocess
import sys

import pytest

from manifests.io import read_manifest, read_meta
from manifests.ops.split import leaks
from medharvest.cli import main
from tests.manifests.conftest import make_records, write


def run(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_validate_exit_codes(tmp_path, manifest, capsys):
    assert run(["manifest", "validate", str(manifest)], capsys)[0] == 0
    recs = make_records(tmp_path, 4)
    recs[1]["labels"][0]["state"] = "maybe"
    (tmp_path / recs[2]["image_path"]).unlink()
    bad = write(tmp_path, recs)
    rc, out, _ = run(["manifest", "validate", str(bad), "--report", str(tmp_path / "problems.csv")], capsys)
    assert rc == 1
    assert "illegal_state" in out and "missing_file" in out and "sample:2" in out
    assert "missing_file" in (tmp_path / "problems.csv").read_text()
    rc, out, _ = run(["manifest", "validate", str(bad), "--no-files", "-q"], capsys)
    assert rc == 1 and json.loads(out.strip().splitlines()[-1])["violations"] == 1


def test_usage_errors_exit_2_with_suggestions(tmp_path, manifest, capsys):
    cases = [
        (["manifest", "split", str(manifest), "--out", str(tmp_path / "o"), "--group-key", "patient"], "did you mean 'patient_id'"),
        (["manifest", "export", str(manifest), "--out", str(tmp_path / "x.csv"), "--filter", "splt == 'train'"], "did you mean 'split'"),
        (["manifest", "export", str(manifest), "--out", str(tmp_path / "x.cvs")], "did you mean 'csv'"),
        (["manifest", "export", str(manifest), "--out", str(tmp_path / "x.csv"), "--filter", "status == 'eror'"], "did you mean 'error'"),
        (["manifest", "valdate", str(manifest)], "did you mean 'validate'"),
        (["manifest", "stats", str(tmp_path / "nope")], "does not exist"),
        (["manifest", "split", str(manifest), "--out", str(tmp_path / "o"), "--ratios", "0.9,0.2,0.1"], "sum"),
        (["manifest", "split", str(manifest), "--out", str(manifest)], "never edits its input"),
    ]
    for argv, message in cases:
        rc, _, err = run(argv, capsys)
        assert rc == 2, argv
        assert message in err, (argv, err)
    assert not (tmp_path / "o").exists() and not (tmp_path / "x.csv").exists()


def test_split_writes_manifest_stats_and_run_json(tmp_path, capsys):
    root = tmp_path / "m"
    src = write(root, make_records(root, 80, patients=25, seed=6))
    out = tmp_path / "split"
    rc, stdout, _ = run(["manifest", "split", str(src), "--out", str(out), "--seed", "5", "--ratios", "0.6,0.2,0.2"], capsys)
    assert rc == 0, stdout
    table = read_manifest(out)
    assert leaks(table) == 0 and table.num_rows == 80
    assert read_meta(out)["split"]["seed"] == 5 and read_meta(out)["split"]["ratios"] == [0.6, 0.2, 0.2]
    stats = json.loads((out / "split_stats.json").read_text())
    assert stats["seed"] == 5 and stats["group_key"] == "patient_id" and sum(stats["rows_per_split"].values()) == 80
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["command"] == "manifest split" and run_json["config"]["seed"] == 5
    # same seed, same split; the input is untouched
    rc, _, _ = run(["manifest", "split", str(src), "--out", str(tmp_path / "again"), "--seed", "5", "--ratios", "0.6,0.2,0.2"], capsys)
    assert read_manifest(tmp_path / "again")["split"].equals(table["split"])
    assert read_manifest(src)["split"].null_count == 80


def test_split_config_file_and_flags(tmp_path, manifest, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[manifest.split]\nseed = 42\nstratify = false\n")
    rc, _, _ = run(["manifest", "split", str(manifest), "--out", str(tmp_path / "o"), "--config", str(cfg), "--seed", "7"], capsys)
    assert rc == 0
    meta = read_meta(tmp_path / "o")["split"]
    assert meta["seed"] == 7 and meta["stratify"] is False
    cfg.write_text("[manifest.split]\nsede = 1\n")
    rc, _, err = run(["manifest", "split", str(manifest), "--out", str(tmp_path / "p"), "--config", str(cfg)], capsys)
    assert rc == 2 and "did you mean 'seed'" in err


def test_stats_export_merge_report(tmp_path, manifest, capsys):
    rc, out, _ = run(["manifest", "stats", str(manifest), "--json", str(tmp_path / "s.json")], capsys)
    assert rc == 0 and "by_source" in out
    assert json.loads((tmp_path / "s.json").read_text())["rows"] == 30
    rc, _, _ = run(["manifest", "export", str(manifest), "--out", str(tmp_path / "e.jsonl"),
                    "--filter", "label('No Finding') == 'positive'"], capsys)
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert rc == 0 and 0 < len(lines) < 30
    assert all(any(lab["finding"] == "No Finding" and lab["state"] == "positive" for lab in json.loads(x)["labels"]) for x in lines)
    rc, _, _ = run(["manifest", "export", str(manifest), "--out", str(tmp_path / "e.parquet"), "--filter", "split == None"], capsys)
    assert rc == 0 and read_manifest(tmp_path / "e.parquet").num_rows == 30
    assert run(["manifest", "validate", str(tmp_path / "e.parquet")], capsys)[0] == 0   # images rebased
    rc, _, _ = run(["manifest", "export", str(manifest), "--out", str(tmp_path / "e.txt"), "--format", "csv"], capsys)
    assert rc == 0 and len((tmp_path / "e.txt").read_text().splitlines()) == 31
    other = write(tmp_path / "o", make_records(tmp_path / "o", 35, seed=9))
    rc, _, _ = run(["manifest", "merge", str(manifest), str(other), "--out", str(tmp_path / "merged")], capsys)
    assert rc == 0 and read_manifest(tmp_path / "merged").num_rows == 35
    assert run(["manifest", "validate", str(tmp_path / "merged")], capsys)[0] == 0   # images rebased
    conflicts = json.loads((tmp_path / "merged" / "conflicts.json").read_text())
    assert {c["key"] for c in conflicts if c["column"] == "image_sha256"} == {f"sample:{i}" for i in range(30)}
    assert (tmp_path / "merged" / "run.json").is_file()
    rc, _, _ = run(["manifest", "report", str(manifest), "--out", str(tmp_path / "r.html")], capsys)
    assert rc == 0 and "Datasheet" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("argv,code", [(["manifest", "validate", "{m}", "--no-files"], 0), (["manifest"], 2)])
def test_entry_point_exit_codes(manifest, argv, code):
    argv = [a.replace("{m}", str(manifest)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "medharvest", *argv], capture_output=True, text=True)
    assert proc.returncode == code, proc.stderr


def test_corrupt_manifest_fails_with_exit_1(tmp_path, capsys):
    (tmp_path / "manifest.parquet").write_bytes(b"PAR1 this is not parquet")
    for argv in (["manifest", "validate", str(tmp_path)], ["manifest", "stats", str(tmp_path)],
                 ["manifest", "split", str(tmp_path), "--out", str(tmp_path / "o")]):
        rc, _, err = run(argv, capsys)
        assert rc == 1 and "cannot read manifest" in err, (argv, err)

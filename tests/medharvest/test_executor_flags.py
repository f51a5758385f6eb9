"""``--executor`` / ``--ray-address`` on crawl and curate run: usage errors exit 2 before any work."""

from __future__ import annotations

import pytest

from medharvest.cli import main


@pytest.mark.parametrize("verb", [["crawl", "openi"], ["curate", "run", "RAW"]])
def test_unknown_executor_and_stray_address_exit_2(tmp_path, capsys, verb):
    args = [a if a != "RAW" else str(tmp_path) for a in verb] + ["--out", str(tmp_path / "out")]
    assert main([*args, "--executor", "rey"]) == 2
    assert "unknown executor 'rey'; did you mean 'ray'?" in capsys.readouterr().err
    assert main([*args, "--ray-address", "auto"]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing was started or written


def test_help_lists_the_executors(capsys):
    with pytest.raises(SystemExit):
        main(["curate", "run", "--help"])
    out = capsys.readouterr().out
    assert "--executor" in out and "local, ray" in out and "--part-rows" in out


def test_shard_size_needs_a_distributed_executor(tmp_path, capsys):
    assert main(["crawl", "openi", "--out", str(tmp_path / "out"), "--shard-size", "10"]) == 2
    assert "--shard-size needs --executor ray" in capsys.readouterr().err

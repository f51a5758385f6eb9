import dataclasses
import json
from pathlib import Path

import pytest

from manifests.errors import UsageError
from medharvest.config import load_toml, resolve
from medharvest.runinfo import redact_argv, write_run_json


@dataclasses.dataclass(frozen=True)
class Cfg:
    seed: int = 0
    ratio: float = 0.5
    out: Path | None = None
    classes: tuple[str, ...] = ()


def test_precedence_defaults_then_toml_then_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[stage]\nseed = 3\nratio = 1\nclasses = ["Mass"]\n')
    cfg = resolve(Cfg, toml=load_toml(toml, "stage"), flags={"seed": 9, "out": None})
    assert cfg == Cfg(seed=9, ratio=1.0, classes=("Mass",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


def test_unknown_keys_and_missing_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="did you mean 'seed'"):
        resolve(Cfg, toml={"sede": 1})
    with pytest.raises(UsageError, match="does not exist"):
        load_toml(tmp_path / "missing.toml", "x")


def test_run_json_never_holds_secrets(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["medharvest", "crawl", "gdc", "--token", "s3cret", "--password=hunter2"])
    path = write_run_json(tmp_path, "crawl", {"api_key": "abc", "nested": {"password": "x"}, "limit": 3})
    text = path.read_text()
    assert "s3cret" not in text and "hunter2" not in text and "abc" not in text
    data = json.loads(text)
    assert data["config"]["limit"] == 3 and data["config"]["api_key"] == "***"
    assert redact_argv(["--token", "t", "--limit", "3"]) == ["--token", "***", "--limit", "3"]

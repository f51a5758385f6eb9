"""Label Studio pieces that need no server: config, coordinate conversion, agreement, filters, credentials."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from curation.labelstudio.agreement import (
    krippendorff_alpha_nominal,
    project_agreement,
    task_agreement,
)
from curation.labelstudio.client import Connection
from curation.labelstudio.interface import (
    label_config,
    normalize_config,
    parse_result,
    prediction_results,
    same_config,
)
from curation.labelstudio.push import (
    PushConfig,
    build_task,
    parse_filter,
    select_records,
)
from manifests.errors import UsageError
from manifests.labels import NIH14, NIH15
from manifests.schema import from_records


def test_label_config_is_xml_from_the_vocabulary():
    root = ET.fromstring(label_config())
    controls = {el.get("name"): el for el in root if el.get("name")}
    assert set(controls) == {"image", "report", "findings", "uncertain", "lesions", "phi", "note"}
    assert [c.get("value") for c in controls["findings"]] == list(NIH15)
    assert controls["findings"].get("choice") == "multiple"
    assert [c.get("value") for c in controls["lesions"]] == list(NIH14)
    assert [c.get("value") for c in controls["phi"]] == ["PHI"]
    assert controls["note"].tag == "TextArea"
    assert label_config() == label_config()


def test_config_comparison_ignores_whitespace_only():
    a = label_config()
    assert same_config(a, "  " + a.replace("\n", "\n\t  ") + "\n")
    assert not same_config(a, a.replace('value="Mass"', 'value="Masses"'))
    assert normalize_config("<View>\n  <Image/>\n</View>") == "<View><Image/></View>"


def test_box_percent_and_back_to_pixels_round_trip():
    boxes = [{"label": "Nodule", "x": 10.0, "y": 30.0, "w": 20.0, "h": 5.0}]
    phi = [{"where": "image", "left": 0, "top": 90, "width": 64, "height": 10}]
    res = prediction_results({"Nodule": "positive", "Mass": "uncertain", "Edema": "negative"}, boxes, phi, (200, 100))
    by_name = {}
    for r in res:
        by_name.setdefault(r["from_name"], []).append(r)
    assert by_name["findings"][0]["value"]["choices"] == ["Nodule"]
    assert by_name["uncertain"][0]["value"]["choices"] == ["Mass"]
    rect = by_name["lesions"][0]["value"]
    assert (rect["x"], rect["y"], rect["width"], rect["height"]) == pytest.approx((5.0, 30.0, 10.0, 5.0))
    parsed = parse_result(res)
    assert len(parsed["boxes"]) == 1
    b = parsed["boxes"][0]
    assert b["label"] == "Nodule"
    assert (b["x"], b["y"], b["w"], b["h"]) == pytest.approx((10.0, 30.0, 20.0, 5.0))
    assert parsed["phi"][0]["left"] == 0 and parsed["phi"][0]["top"] == 90 and parsed["phi"][0]["width"] == 64
    # choices used -> every NIH15 finding gets a state; unticked ones are negative
    assert parsed["states"]["Nodule"] == "positive" and parsed["states"]["Mass"] == "uncertain"
    assert parsed["states"]["Edema"] == "negative" and len(parsed["states"]) == len(NIH15)


def test_parse_result_keeps_unknown_controls_and_box_only_annotations_give_no_states():
    res = [{"from_name": "lesions", "to_name": "image", "type": "rectanglelabels", "original_width": 50,
            "original_height": 50, "value": {"x": 50, "y": 50, "width": 10, "height": 10, "rectanglelabels": ["Mass"]}},
           {"from_name": "mystery", "to_name": "image", "type": "rating", "value": {"rating": 3}}]
    parsed = parse_result(res)
    assert parsed["states"] == {}
    assert parsed["boxes"][0]["x"] == pytest.approx(25.0)
    assert parsed["unparsed"] == [res[1]]


def test_task_agreement_and_alpha():
    a = {"ann1": {"Mass": "positive", "Edema": "negative"}, "ann2": {"Mass": "negative", "Edema": "negative"}}
    ag = task_agreement(a)
    assert ag["annotators"] == 2 and ag["disagreements"] == ["Mass"]
    assert ag["pairwise"] == pytest.approx(0.5)
    assert ag["per_finding"]["Edema"]["majority_fraction"] == 1.0
    assert task_agreement({"ann1": {"Mass": "positive"}}) is None
    # perfect agreement -> alpha 1; systematic disagreement -> alpha < 0
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"], ["a", "a"]]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([["a", "b"], ["b", "a"]]) < 0
    # Krippendorff (2011) nominal example, 4 coders x 12 units (missing values dropped): alpha = 0.743
    data = [[1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
            [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1], [None, None, 3, None]]
    units = [[str(v) for v in u if v is not None] for u in data]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=1e-3)
    pa = project_agreement([a, {"x": {"Mass": "positive"}}])
    assert pa["tasks_with_2plus_annotators"] == 1 and set(pa["alpha_per_finding"]) == {"Mass", "Edema"}


def test_filter_and_selection():
    assert parse_filter("split=train, label:infiltrate=positive,source!=x") == [
        ("split", "=", "train"), ("label:Infiltration", "=", "positive"), ("source", "!=", "x")]
    with pytest.raises(UsageError, match="did you mean 'split'"):
        parse_filter("splt=train")
    with pytest.raises(UsageError, match="COLUMN=VALUE"):
        parse_filter("train")
    recs = [{"key": f"s:{i}", "image_path": f"i{i}.png" if i != 2 else None, "split": "train" if i % 2 else "val",
             "labels": [{"finding": "Mass", "state": "positive", "label_source": "dataset", "annotator": None}] if i == 3 else []}
            for i in range(6)]
    table = from_records(recs)
    chosen, skipped = select_records(table, PushConfig(project="p", filter="split=train"))
    assert [r["key"] for r in chosen] == ["s:1", "s:3", "s:5"] and skipped == 0
    chosen, skipped = select_records(table, PushConfig(project="p", filter="split=val"))
    assert [r["key"] for r in chosen] == ["s:0", "s:4"] and skipped == 1  # s:2 has no image
    chosen, _ = select_records(table, PushConfig(project="p", filter="label:Mass=positive"))
    assert [r["key"] for r in chosen] == ["s:3"]
    chosen, _ = select_records(table, PushConfig(project="p", limit=2))
    assert len(chosen) == 2
    with pytest.raises(ValueError):
        PushConfig(project="p", limit=0)


def test_build_task_groups_predictions_by_label_source():
    rec = {"key": "s:1", "image_path": "a.png", "text": None, "stage_version": "v2",
           "labels": [{"finding": "Mass", "state": "positive", "label_source": "dataset", "annotator": None},
                      {"finding": "Edema", "state": "uncertain", "label_source": "ner", "annotator": None}],
           "boxes": [], "phi_flags": []}
    task = build_task(rec, "http://x/a.png", (10, 10))
    assert task["data"]["key"] == "s:1" and task["data"]["text"] == ""
    assert sorted(p["model_version"] for p in task["predictions"]) == ["dataset@v2", "ner@v2"]


def test_connection_from_flags_or_environment(monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    with pytest.raises(UsageError, match="LABEL_STUDIO_API_KEY"):
        Connection.resolve()
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-token")
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9/")
    conn = Connection.resolve()
    assert conn.url == "http://127.0.0.1:9" and conn.token == "secret-token"
    assert "secret-token" not in repr(conn)
    assert Connection.resolve("http://h:1", "flag").token == "flag"
    with pytest.raises(UsageError, match="http://"):
        Connection.resolve("ftp://h", "t")


def test_server_credentials_are_created_once_and_private(tmp_path):
    import stat

    from curation.labelstudio.server import CREDENTIALS_FILE, free_port, load_or_create_credentials

    creds, created = load_or_create_credentials(tmp_path / "ls")
    assert created and len(creds.token) == 40 and creds.password
    again, created_again = load_or_create_credentials(tmp_path / "ls")
    assert again == creds and not created_again  # a restart keeps the user's token valid
    mode = stat.S_IMODE((tmp_path / "ls" / CREDENTIALS_FILE).stat().st_mode)
    assert mode == 0o600
    assert 0 < free_port() < 65536


def test_annotate_cli_usage_errors_exit_2(tmp_path, capsys, monkeypatch):
    from medharvest.cli import main

    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    assert main(["annotate", "push", str(tmp_path / "missing"), "--project", "p", "--token", "t"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["annotate", "pull", "--project", "p", "--out", str(tmp_path / "o.parquet")]) == 2
    assert "LABEL_STUDIO_API_KEY" in capsys.readouterr().err
    assert main(["annotate", "push", str(tmp_path), "--project", "p", "--token", "t", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err

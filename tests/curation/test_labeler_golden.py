"""Golden file: our own hand-written report sentences -> entities and labels.

Regenerate deliberately with ``uv run python tests/curation/regen_text_golden.py`` and review the diff.
"""

from __future__ import annotations

import json

import pytest

from tests.curation.regen_text_golden import INPUT, OUTPUT, current


def test_golden_file_matches():
    expected = json.loads(OUTPUT.read_text(encoding="utf-8"))
    got = current()
    assert [g["id"] for g in got] == [e["id"] for e in expected], "reports changed: regenerate"
    for g, e in zip(got, expected):
        assert g == e, f"report {g['id']!r} changed; if intended run tests/curation/regen_text_golden.py"


# Hand-checked expectations on the same reports (independent of the regenerated file).
EXPECTED = {
    "same_line_header": {"Pneumothorax": "negative", "No Finding": "positive"},
    "list_negation": {"Effusion": "negative", "Pneumothorax": "negative", "Consolidation": "negative"},
    "post_negation": {"Pneumothorax": "negative", "Effusion": "negative"},
    "placeholder_negation": {"Effusion": "negative", "No Finding": "positive"},
    "uncertain": {"Pneumonia": "uncertain", "Atelectasis": "uncertain", "Infiltration": "uncertain"},
    "uncertain_post": {"Effusion": "uncertain", "Edema": "uncertain"},
    "positive_mix": {"Cardiomegaly": "positive", "Effusion": "positive", "Pneumothorax": "negative"},
    "terminated_scope": {"Consolidation": "negative", "Nodule": "positive"},
    "resolved": {"Pneumothorax": "negative", "Effusion": "negative"},
    "indication_ignored": {"Pneumonia": "not_mentioned", "Cardiomegaly": "negative", "Infiltration": "negative"},
    "history_section": {"Emphysema": "not_mentioned", "Pneumothorax": "negative", "No Finding": "not_mentioned"},
    "fracture_granuloma": {"No Finding": "not_mentioned"},
    "no_finding": {"No Finding": "positive", "Cardiomegaly": "negative"},
    "mass_nodule": {"Mass": "positive", "Nodule": "positive"},
    "emphysema_fibrosis": {"Emphysema": "positive", "Fibrosis": "positive", "Pleural_Thickening": "positive",
                           "Hernia": "positive"},
    "edema_consolidation": {"Edema": "positive", "Consolidation": "positive", "Pneumonia": "uncertain"},
    "without": {"Effusion": "negative", "Pneumothorax": "negative"},
    "free_of_negative_for": {"Consolidation": "negative", "Pneumothorax": "negative"},
    "sentence_abbrev": {"Nodule": "positive", "Effusion": "negative"},
    "lowercase_headers": {"Pneumothorax": "negative"},
    "which_terminates": {"Atelectasis": "uncertain", "Pneumothorax": "negative"},
    "however": {"Pneumothorax": "negative", "Effusion": "positive"},
    "empty_lines": {"Effusion": "negative", "Atelectasis": "positive"},
}


@pytest.mark.parametrize("rid", sorted(EXPECTED))
def test_hand_checked_labels(rid):
    from curation.text import label_report

    reports = {r["id"]: r["text"] for r in json.loads(INPUT.read_text(encoding="utf-8"))}
    got = label_report(reports[rid]).nih
    for finding, state in EXPECTED[rid].items():
        assert got[finding] == state, (rid, finding, got)


def test_devices_and_fracture_in_chexpert():
    from curation.text import label_report

    reports = {r["id"]: r["text"] for r in json.loads(INPUT.read_text(encoding="utf-8"))}
    assert label_report(reports["devices"]).chexpert["Support Devices"] == "positive"
    assert label_report(reports["fracture_granuloma"]).chexpert["Fracture"] == "positive"

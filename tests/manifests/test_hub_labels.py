import math

import pytest

from manifests import labels as L
from manifests.errors import UsageError


def test_vocabularies_have_the_published_sizes():
    assert len(L.NIH14) == 14 and len(L.NIH15) == 15 and L.NIH15[-1] == "No Finding"
    assert len(L.CHEXPERT14) == 14 and "No Finding" in L.CHEXPERT14
    assert set(L.NIH_TO_CHEXPERT) == set(L.NIH15)
    for target in L.NIH_TO_CHEXPERT.values():
        assert target is None or target in L.CHEXPERT14


@pytest.mark.parametrize("spelling,name", [
    ("Infiltrate", "Infiltration"), ("infiltration", "Infiltration"), ("Pleural Thickening", "Pleural_Thickening"),
    ("pleural-effusion", "Pleural Effusion"), ("No Finding", "No Finding"), ("support device", "Support Devices"),
])
def test_source_spellings_map_to_one_canonical_name(spelling, name):
    assert L.canonical(spelling) == name


def test_unknown_finding_suggests_the_closest():
    with pytest.raises(UsageError, match="did you mean 'Pneumothorax'"):
        L.canonical("Pneumothorx")


@pytest.mark.parametrize("cell,state", [
    ("1.0", "positive"), ("0.0", "negative"), ("-1.0", "uncertain"), ("", "not_mentioned"),
    (1, "positive"), (-1.0, "uncertain"), (None, "not_mentioned"), (math.nan, "not_mentioned"),
])
def test_chexpert_cells_keep_four_states(cell, state):
    assert L.state_from_numeric(cell).value == state


@pytest.mark.parametrize("cell", ["2", "yes", 0.5])
def test_bad_label_values_are_rejected_with_the_value(cell):
    with pytest.raises(ValueError, match="not one of"):
        L.state_from_numeric(cell)


def test_finding_list_parsing():
    out = L.parse_finding_list("Cardiomegaly|Infiltrate")
    assert out["Cardiomegaly"] == out["Infiltration"] == "positive"
    assert out["Effusion"] == "negative" and out["No Finding"] == "negative"
    with pytest.raises(ValueError):
        L.parse_finding_list("No Finding|Mass")
    with pytest.raises(ValueError):
        L.parse_finding_list("Fracture")  # a CheXpert observation, not a ChestX-ray14 label


def test_mapping_between_vocabularies_keeps_the_strongest_state():
    cx = L.nih_to_chexpert({"Mass": "negative", "Nodule": "uncertain", "Effusion": "positive", "Hernia": "positive"})
    assert cx == {"Lung Lesion": "uncertain", "Pleural Effusion": "positive"}
    back = L.chexpert_to_nih({"Pleural Effusion": "uncertain", "Lung Lesion": "positive", "Fracture": "positive"})
    assert back == {"Effusion": "uncertain"}  # a positive Lung Lesion cannot be attributed to Mass or Nodule
    assert L.chexpert_to_nih({"Lung Lesion": "negative"}) == {"Mass": "negative", "Nodule": "negative"}


def test_binary_policy_is_explicit():
    assert L.to_binary("uncertain", uncertain="positive") == 1
    assert L.to_binary("uncertain", uncertain="negative") == 0
    assert L.to_binary("not_mentioned") == 0
    with pytest.raises(UsageError):
        L.to_binary("uncertain", uncertain="ignore")

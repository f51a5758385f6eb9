"""Negation, uncertainty, scope, sections, sentences and the entity shape of the report labeler."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from curation.text import label_report, label_reports
from manifests.labels import CHEXPERT14, NIH15, STATES
from manifests.schema import ENTITY_TYPE


def finding(text: str, concept: str) -> list[dict]:
    """The FINDING entities of one concept in a report."""
    return [e for e in label_report(text).entities if e["label"] == f"FINDING:{concept}"]


def nih(text: str) -> dict[str, str]:
    return label_report(text).nih


@pytest.mark.parametrize("text", [
    "FINDINGS: No pneumothorax.",              # header on the same line (medspacy misses this one)
    "FINDINGS:No pneumothorax.",
    "findings: no pneumothorax",
    "IMPRESSION: No evidence of pneumothorax.",
    "There is no pneumothorax.",
    "Negative for pneumothorax.",
    "Without pneumothorax.",
    "Pneumothorax is not seen.",               # post-negation
    "The previously seen pneumothorax has resolved.",
    "Pneumothoraces are absent.",
    "No XXXX of a pneumothorax.",              # de-identification placeholder in the scope
    "No\npneumothorax.",                       # line-wrapped report
])
def test_pneumothorax_is_negated(text):
    assert nih(text)["Pneumothorax"] == "negative", label_report(text).entities


def test_negated_list_carries_the_scope():
    labels = nih("No effusion, pneumothorax or consolidation.")
    assert (labels["Effusion"], labels["Pneumothorax"], labels["Consolidation"]) == ("negative",) * 3
    labels = nih("No focal airspace consolidation, pleural effusion, or pneumothorax identified.")
    assert (labels["Effusion"], labels["Pneumothorax"], labels["Consolidation"]) == ("negative",) * 3
    labels = nih("Pneumothorax, effusion and consolidation are not seen.")
    assert (labels["Effusion"], labels["Pneumothorax"], labels["Consolidation"]) == ("negative",) * 3


@pytest.mark.parametrize("text", [
    "No pneumothorax. Small left effusion.",                      # sentence end
    "No pneumothorax, but there is a small left effusion.",      # but
    "No pneumothorax; however, a small left effusion is present.",
    "No pneumothorax and there is a small left effusion.",        # new clause
    "No pneumothorax which was seen before. Effusion.",
])
def test_scope_ends(text):
    labels = nih(text)
    assert labels["Pneumothorax"] == "negative"
    assert labels["Effusion"] == "positive", label_report(text).entities


@pytest.mark.parametrize("text", [
    "Cannot exclude pneumonia.",
    "Pneumonia cannot be excluded.",
    "Possible pneumonia.",
    "Findings may represent pneumonia.",
    "Questionable pneumonia in the right base.",
    "Opacity suggestive of pneumonia.",
    "Atelectasis versus pneumonia.",
    "Pneumonia versus atelectasis.",
    "Pneumonia is not excluded.",
])
def test_uncertain(text):
    assert nih(text)["Pneumonia"] == "uncertain", label_report(text).entities


def test_negation_beats_nearby_suggest():
    # "to suggest" continues the negation instead of making the finding uncertain
    assert nih("There is no focal opacity to suggest pneumonia.")["Pneumonia"] == "negative"


def test_pseudo_negation_is_no_negation():
    assert nih("No change in the moderate cardiomegaly.")["Cardiomegaly"] == "positive"
    assert nih("No significant change in the right pleural effusion.")["Effusion"] == "positive"


def test_heart_size_constructions():
    assert nih("The heart is mildly enlarged.")["Cardiomegaly"] == "positive"
    assert nih("The cardiac silhouette is not enlarged.")["Cardiomegaly"] == "negative"
    assert nih("Heart size is normal.")["Cardiomegaly"] == "negative"
    assert nih("Normal heart size.")["Cardiomegaly"] == "negative"
    assert nih("Borderline heart size.")["Cardiomegaly"] == "positive"
    assert nih("Heart size at the upper limits of normal.")["Cardiomegaly"] == "negative"
    # a clause of its own: the negation of the list before it does not reach it
    labels = nih("There is no evidence of pneumothorax or pleural effusion, and the heart is enlarged.")
    assert (labels["Pneumothorax"], labels["Effusion"], labels["Cardiomegaly"]) == ("negative", "negative", "positive")


def test_mentions_aggregate_positive_over_uncertain_over_negative():
    assert nih("No effusion on the left. Small right effusion.")["Effusion"] == "positive"
    assert nih("No effusion on the left. Possible right effusion.")["Effusion"] == "uncertain"
    assert nih("No effusion.")["Effusion"] == "negative"
    assert nih("No effusion.")["Edema"] == "not_mentioned"


def test_sections_and_non_finding_sections():
    res = label_report("INDICATION: pneumonia?\nFINDINGS: Lungs are clear.\nIMPRESSION: Mild atelectasis.")
    sections = {e["text"]: e["section"] for e in res.entities if e["label"].startswith("FINDING")}
    assert sections == {"pneumonia": "INDICATION", "atelectasis": "IMPRESSION"}
    assert res.nih["Pneumonia"] == "not_mentioned"  # the clinical question is no finding
    assert res.nih["Atelectasis"] == "positive"
    res = label_report("HISTORY: prior pneumothorax.\nCOMPARISON: Emphysema noted.\nIMPRESSION: Clear lungs.")
    assert res.nih["Pneumothorax"] == res.nih["Emphysema"] == "not_mentioned"
    assert res.nih["No Finding"] == "positive"


def test_sentence_splitting_keeps_abbreviations_and_splits_xxxx():
    # "Dr." is no sentence end, "x-XXXX." is: the negation must not leak into the next sentence
    labels = nih("Normal chest x-XXXX. Mild cardiomegaly. Discussed with Dr. XXXX, no pneumothorax.")
    assert labels["Cardiomegaly"] == "positive"
    assert labels["Pneumothorax"] == "negative"
    labels = nih("No effusion.Mild cardiomegaly.")  # missing space after the period
    assert labels["Cardiomegaly"] == "positive"


def test_no_finding_convention():
    assert nih("The lungs are clear. No pleural effusion or pneumothorax.")["No Finding"] == "positive"
    assert nih("Small hiatal hernia.")["No Finding"] == "not_mentioned"
    # another abnormality of the lexicon keeps the report from being normal
    assert nih("Calcified granuloma. No effusion.")["No Finding"] == "not_mentioned"
    # support devices do not (CheXpert convention)
    res = label_report("Pacemaker in place. Lungs are clear.")
    assert res.nih["No Finding"] == "positive" and res.chexpert["Support Devices"] == "positive"


def test_both_vocabularies_four_states_and_entity_schema():
    res = label_report("FINDINGS: Possible right lower lobe pneumonia. No pneumothorax. Left chest tube.")
    assert list(res.nih) == list(NIH15) and list(res.chexpert) == list(CHEXPERT14)
    assert set(res.nih.values()) <= set(STATES) and set(res.chexpert.values()) <= set(STATES)
    assert res.chexpert["Pneumonia"] == "uncertain" and res.chexpert["Support Devices"] == "positive"
    arr = pa.array(res.entities, type=ENTITY_TYPE)  # conforms to the record schema
    assert len(arr) == len(res.entities) > 0
    text = "FINDINGS: Possible right lower lobe pneumonia. No pneumothorax. Left chest tube."
    for e in res.entities:
        assert text[e["start"]:e["end"]] == e["text"]
    kinds = {e["label"].split(":")[0] for e in res.entities}
    assert {"FINDING", "ANATOMY", "DEVICE"} <= kinds


def test_plural_and_spelling_variants():
    assert nih("Bilateral pleural effusions.")["Effusion"] == "positive"
    assert nih("Bibasilar atelectases.")["Atelectasis"] == "positive"
    assert nih("Multiple opacities and infiltrates.")["Infiltration"] == "positive"
    assert label_report("Patchy air-space disease.").chexpert["Lung Opacity"] == "positive"
    assert label_report("Patchy air space disease.").chexpert["Lung Opacity"] == "positive"


def test_empty_and_batch():
    out = label_reports(["", None, "No effusion.", "   "])
    assert [r.error for r in out] == ["empty report", "empty report", None, "empty report"]
    assert out[0].nih["No Finding"] == "not_mentioned"
    assert out[2].nih["Effusion"] == "negative"
    huge = label_reports(["No effusion. " * 80_000, "Small effusion."])  # > spaCy's max_length
    assert huge[0].error.startswith("report longer than") and huge[1].nih["Effusion"] == "positive"


def test_importing_the_package_does_not_load_spacy():
    code = "import sys, curation.text; assert 'spacy' not in sys.modules, 'spacy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.shared
def test_negbio_example_reports(shared):
    """NegBio's two example reports (lower case, 'findings:'/'impression:' headers, line-wrapped)."""
    folder = shared("data", "negbio_examples")
    first = label_report((folder / "00000086.txt").read_text(encoding="utf-8"))
    assert first.nih["Pneumothorax"] == "negative"  # NegBio's worked example: neg=True
    assert {e["section"] for e in first.entities} >= {"FINDINGS", "IMPRESSION"}
    assert first.nih["No Finding"] == "not_mentioned"  # scoliosis is an abnormality
    second = label_report((folder / "00019248.txt").read_text(encoding="utf-8"))
    assert second.nih["Cardiomegaly"] == "positive"
    assert (second.nih["Infiltration"], second.nih["Effusion"], second.nih["Pneumothorax"]) == ("negative",) * 3
    assert second.chexpert["Support Devices"] == "positive"  # the PICC


@pytest.mark.parametrize("text,vocab,finding", [
    ("A few septal lines at the bases.", "chexpert", "Support Devices"),
    ("Plate-like opacities at the left base.", "chexpert", "Support Devices"),
    ("This could lead to confusion.", "chexpert", "Support Devices"),
    ("Mass effect on the trachea from the thyroid.", "nih", "Mass"),
    ("Subcutaneous emphysema in the left chest wall.", "nih", "Emphysema"),
    ("Small pericardial effusion.", "nih", "Effusion"),
    ("Calcified granuloma in the right upper lobe.", "nih", "Nodule"),
])
def test_look_alikes_are_not_the_finding(text, vocab, finding):
    res = label_report(text)
    assert getattr(res, vocab)[finding] == "not_mentioned", res.entities

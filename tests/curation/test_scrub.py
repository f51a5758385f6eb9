"""Identifier scrub of free text: what is replaced, what is kept, and the flags."""

from __future__ import annotations

import pyarrow as pa
import pytest

from curation.text import scrub_text
from manifests.schema import PHI_TYPE

REPORT = (
    "Patient: Jane Doe   MRN: 12345678   Accession #: A1234567\n"
    "DOB: 03/14/1931. Exam date: 2021-02-05. 92-year-old female, age 95.\n"
    "Address: 1234 West Main Street, Springfield, IL 62704. Phone (217) 555-0123.\n"
    "E-mail jane.doe@example.org. Findings discussed with Dr. John Smith on March 3rd, 2021.\n"
    "FINDINGS: 5 mm nodule in the left upper lobe. T4 vertebra compression deformity. "
    "PA and lateral, 3 views. Cardiothoracic ratio 16.2/24.7. Dr. was paged.\n"
)
IDENTIFIERS = ["Jane Doe", "12345678", "A1234567", "03/14/1931", "2021-02-05", "92", "95",
               "1234 West Main Street", "62704", "(217) 555-0123", "jane.doe@example.org",
               "John Smith", "March 3rd, 2021"]


def test_identifiers_are_replaced_by_typed_placeholders():
    scrubbed, flags = scrub_text(REPORT)
    for ident in IDENTIFIERS:
        assert ident not in scrubbed, ident
    for ph in ("[NAME]", "[ID]", "[DATE]", "[AGE]", "[ADDRESS]", "[PHONE]", "[EMAIL]"):
        assert ph in scrubbed, ph
    assert "Dr. [NAME]" in scrubbed and "Patient: [NAME]" in scrubbed
    assert "[AGE]-year-old female" in scrubbed


def test_medical_content_is_untouched():
    scrubbed, _ = scrub_text(REPORT)
    for keep in ("5 mm nodule", "T4 vertebra", "PA and lateral, 3 views", "16.2/24.7", "Dr. was paged",
                 "FINDINGS:", "female"):
        assert keep in scrubbed, keep
    text = ("Heart size normal. 2.5 cm mass at T10-T11. C5-6 fusion. Lines 1-2 cm above the carina. "
            "Dr. XXXX was notified at XXXX p.m. 45-year-old male. May represent atelectasis. "
            "Follow-up in 3-6 months. Ratio 0.55.")
    assert scrub_text(text) == (text, [])


def test_flags_are_phi_records_with_original_offsets_and_no_text():
    scrubbed, flags = scrub_text(REPORT)
    arr = pa.array(flags, type=PHI_TYPE)
    assert len(arr) == len(flags) >= len(IDENTIFIERS) - 1
    kinds = {f["kind"] for f in flags}
    assert {"name", "date", "id", "age", "phone", "address"} <= kinds
    for f in flags:
        assert f["where"] == "text" and f["top"] is None and f["height"] is None and f["redacted"]
        assert set(f) == set(PHI_TYPE.names)  # nothing else (no identifier text) is stored
        assert REPORT[f["left"]:f["left"] + f["width"]].strip() == REPORT[f["left"]:f["left"] + f["width"]]
    spans = {REPORT[f["left"]:f["left"] + f["width"]] for f in flags}
    assert "Jane Doe" in spans and "(217) 555-0123" in spans and "John Smith" in spans


@pytest.mark.parametrize("text,kind", [
    ("Seen 1/2/2019.", "date"), ("on 2 January 2020", "date"), ("Jan. 5, 2019", "date"),
    ("in December 2018", "date"), ("call 317-555-0199", "phone"), ("SSN 123-45-6789", "id"),
    ("Name: SMITH, JOHN", "name"), ("Mrs. O'Neil", "name"), ("aged 101", "age"), ("90 y/o", "age"),
    ("P.O. Box 1234", "address"),
])
def test_single_identifier_kinds(text, kind):
    scrubbed, flags = scrub_text(text)
    assert [f["kind"] for f in flags] == [kind], (scrubbed, flags)


@pytest.mark.parametrize("text", ["89-year-old man", "age 45", "Dr. XXXX", "Patient: Male", "", "No acute findings."])
def test_not_identifiers(text):
    assert scrub_text(text) == (text, [])


def test_name_stops_at_the_sentence_end():
    text = "Patient: John Smith. FINDINGS: No pneumothorax."
    scrubbed, flags = scrub_text(text)
    assert scrubbed == "Patient: [NAME]. FINDINGS: No pneumothorax."
    assert [(f["left"], f["width"]) for f in flags] == [(9, 10)]


@pytest.mark.shared
def test_deidentified_iu_reports_are_left_alone(shared):
    """926 real reports, already de-identified (XXXX): nothing of the medical text is scrubbed."""
    import csv

    path = shared("data", "iu_cxr_reports", "indiana_reports_first926.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    flagged = []
    for row in rows:
        for col in ("indication", "comparison", "findings", "impression"):
            text = row[col]
            scrubbed, flags = scrub_text(text)
            flagged += [text[f["left"]:f["left"] + f["width"]] for f in flags]
            assert (scrubbed == text) == (not flags)
    assert flagged == []

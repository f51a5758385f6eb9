"""Report and caption text: NER with negation/uncertainty -> four-state labels; identifier scrub.

Reads free text (report sections, captions); writes nothing itself except through
:func:`run_labels` (a CSV of labels). spaCy is imported on first use, not at import time.

Public API
----------
``label_reports(texts) -> list[ReportLabels]`` / ``label_report(text) -> ReportLabels``
    Entities (``manifests.schema.ENTITY_TYPE`` dicts) and {finding: state} in the ChestX-ray14
    (``.nih``, NIH15) and CheXpert-14 (``.chexpert``) vocabularies. Pipeline: ``spacy.blank("en")``
    + rule sentencizer + section headers + our lexicon (EntityRuler) + trigger-scope negation and
    uncertainty (modules ``nlp``, ``lexicon``, ``sections``, ``triggers``, ``context``, ``report``).
``scrub_text(text) -> (scrubbed, phi_flags)``
    Names, dates, phones, record numbers, addresses, e-mails, ages > 89 replaced by ``[NAME]``,
    ``[DATE]`` ...; flags shaped like ``manifests.schema.PHI_TYPE`` (where="text"); module ``scrub``.
``run_labels(reports_csv, text_columns, out, id_column=None, vocabulary="nih14") -> summary``
    ``medharvest curate labels``: a CSV of reports -> a CSV of 1/0/-1/blank labels (``label_csv``).
"""

from __future__ import annotations

from curation.text.report import ReportLabels
from curation.text.scrub import scrub_text

__all__ = ["ReportLabels", "label_report", "label_reports", "run_labels", "scrub_text"]


def label_reports(texts, *, batch_size: int = 256) -> list[ReportLabels]:
    from curation.text.labeler import label_reports as _label_reports

    return _label_reports(texts, batch_size=batch_size)


def label_report(text) -> ReportLabels:
    return label_reports([text])[0]


def run_labels(reports_csv, text_columns, out, id_column=None, vocabulary="nih14") -> dict:
    from curation.text.label_csv import run_labels as _run_labels

    return _run_labels(reports_csv, text_columns, out, id_column=id_column, vocabulary=vocabulary)

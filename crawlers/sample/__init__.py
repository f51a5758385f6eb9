"""The embedded sample dataset: a deterministic, licence-free (CC0) chest-radiograph-like source.

Reads nothing. Writes a raw store ``<out>/raw/sample/`` like any crawler (``files/``,
``items.jsonl``, ``stats.json``; see :mod:`manifests.raw`) plus two files curation never reads:

* ``params.json`` - the generator settings (a re-run with other settings is refused);
* ``ground_truth.jsonl`` - one object per ``source_id`` for scoring later stages::

    {"source_id", "patient_id", "study_id",
     "findings": [NIH names drawn in the image],            # [] = No Finding
     "report_labels": {NIH name: positive|negative|uncertain},  # as the report states them
     "finding_boxes": [{label, x, y, w, h}],                # pixels
     "dup_of": id|null, "near_dup_of": id|null, "near_dup_kind": noise|brightness|jpeg|null,
     "burned_in": [{left, top, width, height, text, kind}],  # kind: name|id|date
     "is_dicom": bool, "photometric": MONOCHROME1|MONOCHROME2|null,
     "header_identifiers": {PatientName, PatientID, PatientBirthDate, StudyDate, ...},
     "text_identifiers": [{kind, text, start, end}]}         # spans in the item's text

Items carry no labels (``labels == {}``, ``label_source None``): like a web source, labels must be
derived from the reports. Images are 8-bit grey PNG (a few JPEG near duplicates) or 12-bit DICOM.

Public API: :class:`SampleConfig`, :func:`generate` (``crawlers.sample.generator``).
Modules: ``anatomy`` (the base chest), ``findings`` (class-specific drawings), ``reports``
(report text), ``phi`` (fake identifiers, burned-in text, DICOM), ``generator`` (plan + write).
"""

"""Operations on manifests (each reads a manifest and writes a new file; none edits its input).

* :mod:`manifests.ops.validate` — ``validate_manifest`` / ``validate_table`` -> ``ValidationReport``.
* :mod:`manifests.ops.split` — patient-grouped, label-stratified, seeded splits and K-fold codes.
* :mod:`manifests.ops.stats` — counts per source, status, split, licence, modality, view, label.
* :mod:`manifests.ops.filter` — ``filter_table`` (safe filter expressions), ``merge_files``.
* :mod:`manifests.ops.report` — ``write_report``: the self-contained HTML datasheet.
* :mod:`manifests.ops.export` — exports, one module per format (a new format is one new module).

The CLI for them is ``medharvest manifest validate|stats|split|export|merge|report``.
"""

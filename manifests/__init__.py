"""The hub: the record contract, the label vocabulary, manifest I/O and the manifest operations.

Every spoke (``crawlers/``, ``curation/``, ``gan/``, ``classify/``) imports this package and no
other spoke; this package imports no spoke and not the CLI.

**Reads**: raw stores (``<data>/raw/<source>/items.jsonl`` + ``files/``) and manifests
(``manifest.parquet``: one row per image–text pair, :data:`manifests.schema.SCHEMA`), plus the image
files a manifest points to (``image_path`` is relative to the manifest's own directory).

**Writes** (always atomically: temp file + rename): raw stores, manifests (Parquet, with a
``medharvest`` metadata dict, e.g. the split's seed / group key / ratios), exports (CSV, JSONL,
Hugging Face, WebDataset, MONAI, COCO, Croissant),
``split_stats.json``, ``conflicts.json``, validation reports (CSV / JSON), stats JSON and the HTML
datasheet.

Public API, by module:

* :mod:`manifests.schema` — ``SCHEMA``, ``COLUMNS``, nested types, ``from_records``, ``conform``,
  ``make_key``, ``labels_list`` / ``labels_dict`` / ``primary_labels``, ``PROVENANCE_COLUMNS``,
  ``SPLITS``, ``STATUSES``.
* :mod:`manifests.labels` — NIH-14/15 and CheXpert-14 vocabularies, the mapping between them,
  ``canonical()`` for source spellings, the four ``State``\\ s, ``state_from_numeric()``.
* :mod:`manifests.io` — ``read_manifest`` / ``write_manifest`` / ``read_meta``, partitioned manifests
  (a directory ``manifest.parquet/part-*.parquet``: ``manifest_parts``, ``read_parts``, ``iter_batches``,
  ``write_manifest(..., part_rows=N)``), ``merge``, ``rebase_image_paths``, ``write_json_atomic``, ``atomic_path``.
* :mod:`manifests.raw` — ``RawStore`` / ``RawItem``: the raw store contract (append, resume, stats).
* :mod:`manifests.errors` — ``UsageError`` (exit 2), ``StageError`` (exit 1), ``ManifestError``.
* :mod:`manifests.registry` — ``lookup()`` / ``did_you_mean()`` for every name registry.
* :mod:`manifests.executor` — the executor seam (``local`` | ``ray``) ``crawl`` and ``curate run`` share:
  ``EXECUTORS``, ``make_executor``, ``Executor.map``; Ray is imported only when one starts.
* :mod:`training.dataset_view` — a manifest as a training set (targets, decode, epoch order).
* :mod:`manifests.columnar` — memory-light column reads of big manifests: ``read_columns``,
  ``label_codes`` (labels as integer codes), ``read_full`` / ``write_full``.
* :mod:`manifests.ops.validate` — ``validate_manifest`` / ``validate_table`` -> ``ValidationReport``
  (one row per problem: key, column, problem, detail).
* :mod:`manifests.ops.split` — ``SplitConfig``, ``split_file``, ``assign``: patient-grouped (with
  ``dup_group`` union), label-stratified, seeded splits; ``leaks()`` counts groups in two splits.
* :mod:`manifests.ops.stats` — ``compute`` / ``compute_file``: counts per source, status, split,
  licence, modality, view, label (finding x state), split x label, missing values.
* :mod:`manifests.ops.filter` — ``filter_table`` (safe filter expressions, ``label('Effusion')``),
  ``merge_files``.
* :mod:`manifests.ops.report` — ``write_report``: the self-contained HTML datasheet.
* :mod:`manifests.ops.export` — ``export`` / ``formats`` / ``format_for``: one module per export
  format (csv, jsonl, parquet, hf, webdataset, monai, coco, croissant), each an ``Exporter`` subclass.

The CLI for the operations is ``medharvest manifest validate|stats|split|export|merge|report``.
"""

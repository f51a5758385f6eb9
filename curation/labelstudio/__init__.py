"""Label Studio round trip: push a manifest as labeling tasks, pull human annotations back.

Reads a manifest (Parquet, :mod:`manifests.io`) and the images it points to; talks to a Label
Studio server (SDK ``label-studio-sdk`` 2.x) given by URL + API token. Writes a NEW manifest with
human labels appended (``label_source="human"``, ``annotator``), boxes in image pixels, agreement
in ``meta``; beside it ``<stem>.annotate-stats.json``, ``<stem>.annotate-conflicts.jsonl`` and the
raw export ``<stem>.labelstudio-export.json``. The input manifest is never edited.

Public API:

* :class:`~curation.labelstudio.server.LabelStudioServer` — start a local server (context manager);
* :class:`~curation.labelstudio.client.Connection` — URL + token (flags, then environment);
* :func:`~curation.labelstudio.push.push` with :class:`~curation.labelstudio.push.PushConfig`;
* :func:`~curation.labelstudio.pull.pull` with :class:`~curation.labelstudio.pull.PullConfig`;
* :func:`~curation.labelstudio.interface.label_config` — the labeling config from the vocabulary.

Command line (``medharvest/cmd_annotate.py``)::

    medharvest annotate serve --data-dir ls-data --document-root .     # prints URL, user, token
    export LABEL_STUDIO_URL=http://127.0.0.1:8080 LABEL_STUDIO_API_KEY=<token>
    medharvest annotate push data/curated --project chest --filter split=train --limit 200
    medharvest annotate pull --project chest --out data/annotated/manifest.parquet

Label Studio itself is not a dependency: it runs as ``uv tool install label-studio==1.23.2``
(:mod:`~curation.labelstudio.server` installs it on first use). Modules import the SDK lazily;
importing this package is cheap.
"""

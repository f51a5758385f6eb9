"""medharvest: public medical image-text sources -> a curated, licensed, identifier-free manifest.

This package is the CLI layer, the only place that wires the stages together: ``medharvest.cli``
builds the ``medharvest`` command from the ``cmd_*.py`` modules (one verb each: demo, sample,
import, crawl, curate, manifest, annotate, gan, classify, experiment); ``config`` resolves typed
stage configs (defaults < ``--config`` TOML < flags); ``runinfo`` writes ``run.json``; ``output``
prints progress and summary tables; ``demo`` runs the whole pipeline on the embedded sample.

Reads and writes only through the stages it calls (``crawlers``, ``curation``, ``manifests``,
``gan``, ``classify``, ``study``); see ARCHITECTURE.md for the layers. Public API:
``medharvest.cli.main(argv) -> int`` (exit code 0 / 1 / 2).
"""

"""The augmentation study: does GAN augmentation of rare classes help a classifier?

A layer above the two trainers (it wires ``gan/`` and ``classify/``) and below the CLI.

**Reads**: a split manifest. **Writes**: ``out/seed_<s>/...`` (generator, augmented manifest, one
classifier per arm), ``results.json``, ``table.md`` / ``table.csv``, plots, ``summary.html`` and
``stats.json`` last.

Public API:

* :mod:`study.runner` — ``run_experiment``, ``Budget``, ``ARMS``.
* :mod:`study.report` — ``aggregate``, ``write_report``.
"""

"""The augmentation study: does GAN augmentation of rare classes help a classifier?

A layer above the two trainers (it wires ``gan/`` and ``classify/``) and below the CLI.

**Reads**: a split manifest. **Writes**: ``out/seed_<s>/...`` (generator, augmented manifest, one
classifier per arm, ``generator/quality/``), ``results.json``, ``table.md`` / ``table.csv``, plots,
``summary.html`` and ``stats.json`` last; a sweep (``--imbalance``) writes one such study per ratio
under ``out/ratio_<r>/`` and ``sweep.{md,csv,png,html,json}``.

Extension point: an arm is one :func:`study.arms.arm` declaration (its classifier augmentation
policies, from :mod:`classify.policies`, and the arms it is compared with); the runner, the report
and the CLI read the registry, nothing else names arms.

Public API:

* :mod:`study.arms` — ``REGISTRY``, ``arm``, ``get``, ``names``, ``reference``.
* :mod:`study.runner` — ``run_experiment``, ``Budget``, ``BUDGETS`` (small, full, gpu), ``Job``, ``ARMS``.
* :mod:`study.designs` — ``fold_manifests`` (K-fold CV), ``imbalanced_manifests`` (a class made rare), ``pool_folds``.
* :mod:`study.sweep` — ``run_sweep``, ``write_sweep`` (controlled-imbalance sweep, metric vs ratio plot).
* :mod:`study.bootstrap` — patient-level bootstrap intervals of the test scores (paired deltas).
* :mod:`study.quality` — generator quality per class (consistency, coverage, memorisation) + grids.
* :mod:`study.report` — ``aggregate``, ``verdict``, ``ci_verdict``, ``write_report``.
"""

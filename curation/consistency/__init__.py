"""Image-text consistency: does a pair's text describe its image?

Reads a manifest; writes a new one whose ``consistency`` column (:data:`manifests.schema.CONSISTENCY_TYPE`)
holds a score, the flags and the checks that ran, plus ``stats.json``. Checks: structured metadata vs
text (:mod:`.structured`), text labels vs an image classifier's probabilities (:mod:`.labels`, the
classifier passed in as a :class:`~curation.consistency.labels.ProbabilityProvider` -- the CLI builds one
from a ``classify`` checkpoint), CLIP-family similarity (:mod:`.embedding`, optional, local weights).

Public API: :func:`curation.consistency.run.consistency_run` (``ConsistencyConfig``),
:func:`curation.consistency.run.check_records`, :class:`~curation.consistency.labels.ProbabilityProvider`.
"""

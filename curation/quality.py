"""Quality flags of a normalised image: what a curator would want to filter on.

Flags (strings in the record's ``quality_flags``): ``too_small`` (shorter side below
``min_side``), ``blank`` (constant or nearly constant pixels), ``extreme_aspect`` (long/short
side above ``max_aspect``), and, set by the pipeline, ``unreadable`` / ``decompression_bomb``
(decoding failed), ``exact_duplicate`` / ``near_duplicate`` (see :mod:`curation.dedup`),
``phi_in_pixels`` (identifiers found burned in) and ``phi_residual`` (still found after redaction).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    min_side: int = 32
    max_aspect: float = 4.0
    blank_std: float = 1.0      # std of 8-bit grey below this: blank
    blank_range: int = 4        # or fewer than this many grey levels between 1st and 99th percentile


def quality_flags(pixels: np.ndarray, cfg: QualityConfig = QualityConfig()) -> list[str]:
    """Flags for one decoded image (uint8 / uint16, grey or RGB)."""
    flags: list[str] = []
    h, w = int(pixels.shape[0]), int(pixels.shape[1])
    if min(h, w) < cfg.min_side:
        flags.append("too_small")
    if max(h, w) / max(1, min(h, w)) > cfg.max_aspect:
        flags.append("extreme_aspect")
    a = pixels.astype(np.float32)
    if pixels.dtype == np.uint16:
        a = a / 257.0
    if a.ndim == 3:
        a = a.mean(axis=2)
    step = max(1, int(np.sqrt(a.size / 250_000)))
    sample = a[::step, ::step]
    lo, hi = np.percentile(sample, [1, 99])
    if float(sample.std()) < cfg.blank_std or (hi - lo) < cfg.blank_range:
        flags.append("blank")
    return flags

"""``CurateConfig``: the settings of ``curate run`` (TOML section ``[curate]``), and ``STAGE_VERSION``.

Its own module so that the pipeline, the worker jobs and the record builders all import it
without importing each other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

#: ``stage_version`` of every record curation writes (part of the journal fingerprint).
STAGE_VERSION = "curate/2"


@dataclasses.dataclass(frozen=True)
class CurateConfig:
    """Settings of ``curate run`` (TOML section ``[curate]``)."""

    ocr: bool = True                  # scan images for burned-in identifiers
    redact: bool = True               # black out what the scan finds (and verify with a second pass)
    ocr_passes: tuple[str, ...] = ("bright", "tophat")
    verify: bool = True
    labels: bool = True               # report / caption labels with the NER labeler
    scrub: bool = True                # identifier scrub of text
    keep_16bit: bool = False          # keep >8-bit grey images as 16-bit PNG
    max_pixels: int = 89_478_485      # PIL's decompression-bomb limit
    thumbnail_size: int = 1024        # whole-slide thumbnails: longest side
    wsi_tiles: int = 0                # whole-slide images: also store up to N tissue tiles (in meta)
    wsi_magnification: float = 5.0    # ... cut at this objective magnification
    wsi_tile_size: int = 512
    near_dup_threshold: int = 6       # 64-bit pHash Hamming distance: near-duplicate candidates
    near_dup_fine_threshold: int = 10  # 256-bit pHash distance that confirms a candidate
    min_side: int = 32
    max_aspect: float = 4.0
    workers: int = 2
    chunk: int = 32
    png_compress_level: int = 6
    part_rows: int = 0                # > 0: write manifest.parquet/ as parts of at most this many rows

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if self.part_rows < 0:
            raise ValueError("part_rows must be >= 0 (0 = one manifest file)")
        if not 0 <= self.near_dup_threshold <= 32:
            raise ValueError("near_dup_threshold must be between 0 and 32")
        if self.ocr:
            from curation.ocr.phi_scan import PhiScanConfig

            PhiScanConfig(passes=self.ocr_passes)

    def fingerprint(self) -> str:
        """What changes a record (workers / chunk do not)."""
        d = dataclasses.asdict(self)
        for k in ("workers", "chunk", "near_dup_threshold", "near_dup_fine_threshold", "part_rows"):
            d.pop(k)
        d["stage"] = STAGE_VERSION
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

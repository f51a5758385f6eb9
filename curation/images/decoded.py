"""``Decoded`` (what every decoder returns) and the decompression-bomb check every decoder runs.

Shared by :mod:`curation.images.decode` (the dispatcher) and the format modules (dicom, raster,
volume, wsi), which import this module rather than the dispatcher that imports them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from curation.images.errors import DecodeError


@dataclasses.dataclass
class Decoded:
    """A decoded image, ready for normalisation.

    ``pixels`` is (H, W) grey or (H, W, 3) RGB, uint8 or uint16 (already windowed / inverted as
    the format asks). ``deny`` holds identifier strings from the file's header (patient name, id,
    birth date ...): only used to find them burned into pixels, never stored. ``header_phi`` are
    ``phi_flags`` entries (``where="header"``) saying which identifier kinds the header held.
    """

    pixels: np.ndarray
    format: str
    modality: str | None = None
    body_part: str | None = None
    view: str | None = None
    patient_id: str | None = None          # already hashed when it came from a header
    meta: dict = dataclasses.field(default_factory=dict)
    deny: list[str] = dataclasses.field(default_factory=list)
    header_phi: list[dict] = dataclasses.field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def check_pixels(n_pixels: int, max_pixels: int, what: str) -> None:
    """Refuse an image above the decompression-bomb limit before it is allocated."""
    if max_pixels and n_pixels > max_pixels:
        raise DecodeError(
            f"{what}: {n_pixels} pixels exceeds the decompression-bomb limit of {max_pixels} pixels "
            f"(raise max_pixels if the file is trusted)",
            flag="decompression_bomb",
        )

"""Errors of image decoding: one record's problem, stored as the record's ``error``."""

from __future__ import annotations

from manifests.errors import MedharvestError


class DecodeError(MedharvestError):
    """The file cannot be decoded to pixels (unreadable, unsupported, truncated, too large).

    ``flag`` is the quality flag that goes with it (``unreadable`` or ``decompression_bomb``).
    """

    def __init__(self, message: str, flag: str = "unreadable"):
        super().__init__(message)
        self.flag = flag

"""The captioner contract and its registry.

A captioner is a class with a ``name`` that registers itself with :func:`captioner` where it is
implemented (one module per captioner); :data:`CAPTIONERS` is the registry and
:func:`get_captioner` reads it through :func:`manifests.registry.lookup` ("did you mean").

The engine (:mod:`curation.caption.run`) calls, in order: the constructor (validates its settings:
a usage error stops the command before any work), :meth:`Captioner.provenance` (what every caption
it makes records), then :meth:`Captioner.load` once (only when some record needs a caption, so an
all-resumed run never loads a model) and :meth:`Captioner.caption_batch` per batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from manifests.registry import lookup

#: name -> captioner class; filled by :func:`captioner` when a captioner module is imported.
CAPTIONERS: dict[str, type[Captioner]] = {}


class CaptionFailure(Exception):
    """One record could not be captioned (bad image, endpoint refused, budget spent)."""


@dataclasses.dataclass(frozen=True)
class CaptionInput:
    """What a captioner sees of one record: the record's columns and its image file."""

    key: str
    record: dict
    image: Path | None


@dataclasses.dataclass(frozen=True)
class CaptionSettings:
    """Settings every captioner receives (TOML section ``[curate.caption]`` + flags)."""

    model: str | None = None           # blip: local dir or hub id already in the cache; llm: model name
    endpoint: str | None = None        # llm: base URL of an OpenAI-compatible API (".../v1")
    api_key: str | None = dataclasses.field(default=None, repr=False)  # llm: from the environment only
    batch_size: int = 8
    max_new_tokens: int = 40
    device: str | None = None          # blip: cuda / cpu (default: cuda when present)
    max_requests: int = 1000           # llm: request budget of one run (retries included)
    retries: int = 4                   # llm: retries per record on 429 / 5xx / connection errors
    backoff_s: float = 1.0             # llm: first backoff, doubled per retry (Retry-After wins)
    timeout_s: float = 60.0            # llm: per request

    def __post_init__(self):
        from manifests.errors import UsageError

        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise UsageError("batch_size and max_new_tokens must be >= 1")
        if self.max_requests < 1 or self.retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise UsageError("max_requests must be >= 1, retries and backoff_s >= 0, timeout_s > 0")


class Captioner:
    """Base class: subclasses set ``name`` and implement :meth:`caption_batch`."""

    name: ClassVar[str] = ""
    #: version of the caption template / prompt; part of every caption's provenance
    prompt_version: ClassVar[str] = "1"

    def __init__(self, settings: CaptionSettings):
        self.settings = settings

    def provenance(self) -> dict:
        """``{model, weights_sha256, endpoint, prompt_version}`` recorded with every caption."""
        return {"model": None, "weights_sha256": None, "endpoint": None, "prompt_version": self.prompt_version}

    def load(self) -> None:
        """Load weights / open sessions; called once, before the first batch that needs work."""

    def caption_batch(self, items: list[CaptionInput]) -> list[str | CaptionFailure]:
        """One caption (or the :class:`CaptionFailure` of that record) per item, in order."""
        raise NotImplementedError


def captioner(cls: type[Captioner]) -> type[Captioner]:
    """Class decorator: declare a captioner under its ``name`` (duplicates are a bug)."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in CAPTIONERS and CAPTIONERS[cls.name] is not cls:
        raise TypeError(f"captioner '{cls.name}' is declared twice ({CAPTIONERS[cls.name].__name__}, {cls.__name__})")
    CAPTIONERS[cls.name] = cls
    return cls


def get_captioner(name: str) -> type[Captioner]:
    import curation.caption  # noqa: F401 (imports every captioner module, which registers it)

    return lookup(CAPTIONERS, name, "captioner")


def sha256_files(paths: list[Path], progress: Callable[[Path], None] | None = None) -> str:
    """One sha256 over the weight files (sorted by name): the provenance of local weights."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        if progress:
            progress(p)
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()

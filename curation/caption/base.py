"""The captioner contract and its registry.

A captioner is declared once, where it is implemented: one module ``curation/caption/<module>.py``
(its docstring is the captioner's datasheet) with a subclass of :class:`Captioner` whose ``name``
is the ``--captioner`` value. :func:`captioners` walks the package's modules, like
``crawlers.registry.sources()`` walks the spiders, and collects the subclasses each defines (two
with one name: ``RuntimeError``), so a new captioner is one new module and nothing else to edit;
:func:`get_captioner` reads the registry through :func:`manifests.registry.lookup` ("did you mean").
The contract test ``tests/curation/test_captioner_contract.py`` runs every registered captioner and
fails for one without a case in ``tests/curation/caption_cases.py``.

The engine (:mod:`curation.caption.run`) calls, in order: the constructor (validates its settings:
a usage error stops the command before any work), :meth:`Captioner.provenance` (what every caption
it makes records), then :meth:`Captioner.load` once (only when some record needs a caption, so an
all-resumed run never loads a model) and :meth:`Captioner.caption_batch` per batch.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from manifests.registry import declared_classes, lookup

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


@functools.cache
def captioners() -> dict[str, type[Captioner]]:
    """``--captioner`` name -> captioner class, from the modules of :mod:`curation.caption`, sorted."""
    return discover("curation.caption")


def discover(package: str) -> dict[str, type[Captioner]]:
    """The :class:`Captioner` subclasses with a ``name`` defined in the modules of ``package`` (sub-packages
    not walked), by name; RuntimeError when two share a name (the second would shadow the first)."""
    return declared_classes(package, Captioner, "captioners")


def get_captioner(name: str) -> type[Captioner]:
    """The captioner class ``name`` (UsageError with "did you mean" for unknown names)."""
    return lookup(captioners(), name, "captioner")


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

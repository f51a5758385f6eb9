"""Captions for images: a new text (``text_kind="caption"``) added to manifest records.

Reads a manifest (``manifest.parquet`` + its images); writes a new manifest whose records carry the
captions in the ``captions`` column (:data:`manifests.schema.CAPTION_TYPE`), ``stats.json`` (last)
and a resume journal. Reports are never overwritten.

Captioners: one module each, holding one :class:`~curation.caption.base.Captioner` subclass whose
``name`` is the ``--captioner`` value; found by walking this package
(:func:`~curation.caption.base.captioners`, no list to edit), looked up by name through
:func:`manifests.registry.lookup`:

* ``template`` (:mod:`.template`) -- deterministic, from modality / view / body part / laterality
  and the four-state labels with their source; needs no weights.
* ``blip`` (:mod:`.blip`) -- ``transformers`` BLIP from a local directory or cached hub id;
  batched; CUDA + fp16 autocast when present.
* ``llm`` (:mod:`.llm`) -- an OpenAI-compatible chat-completions endpoint with image input;
  findings-only prompt, retries with backoff, request budget; the key never leaves the header.

Public API: :func:`curation.caption.run.caption_run` (``CaptionConfig``), :func:`captioners`,
:func:`get_captioner`, :class:`~curation.caption.base.CaptionSettings`. Importing this package
imports neither torch nor transformers.
"""

from __future__ import annotations

from curation.caption.base import CaptionFailure, CaptionSettings, Captioner, captioners, get_captioner

__all__ = ["CaptionFailure", "CaptionSettings", "Captioner", "captioners", "get_captioner"]

"""Training plumbing shared by the two trainers (``gan/`` and ``classify/``), a layer above the hub.

**Reads**: manifests (through :mod:`manifests.io` / :mod:`manifests.columnar`) and the image files
they point to. **Writes**: nothing on its own.

Public API:

* :mod:`training.dataset_view` — a manifest as a training set: ``load_view`` (targets, decode,
  epoch order), ``balanced_weights``, ``epoch_indices``, ``decode_images``.
* :mod:`training.distributed` — torch DDP plumbing (``torchrun`` env, rank-0 writes, all-reduce,
  ``ema_update``). Imports torch, so only trainers import it.

Layering (import-linter): ``manifests`` < ``training`` < ``gan`` | ``classify`` < ``study`` < ``medharvest``.
"""

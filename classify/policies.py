"""Augmentation policies of the classifier, each declared once (:func:`policy`), looked up by name.

A policy says what it does to training: a function applied to every train batch on the device
(``batch``), class-balanced sampling with replacement (``balanced_sampling``), or rows from a
generator merged into the manifest before training starts (``synthetic_rows``: the ``gan`` policy,
written ``gan:CHECKPOINT`` on the command line; the CLI and the study sample and merge them, since
classify never imports gan). The study's arms (:mod:`study.arms`) are combinations of these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from manifests.errors import UsageError
from manifests.registry import lookup


@dataclasses.dataclass(frozen=True)
class Policy:
    name: str
    help: str
    batch: Callable | None = None          # (B, 1, S, S) standardised -> same shape; None: unchanged
    balanced_sampling: bool = False
    synthetic_rows: bool = False           # applied to the manifest, before training (needs a generator)

    def apply(self, x):
        return x if self.batch is None else self.batch(x)


#: name -> Policy, in declaration order.
POLICIES: dict[str, Policy] = {}


def policy(p: Policy) -> Policy:
    """Declare a policy (its name must be new)."""
    if p.name in POLICIES:
        raise ValueError(f"augmentation policy '{p.name}' declared twice")
    POLICIES[p.name] = p
    return p


def get(name: str) -> Policy:
    return lookup(POLICIES, name, "augmentation policy")


def parse(spec: str) -> tuple[Policy, str | None]:
    """``"classic"`` -> (classic, None); ``"gan:CKPT"`` -> (gan, "CKPT"). A synthetic-row policy needs
    its argument, the others take none."""
    name, sep, arg = spec.partition(":")
    p = get(name)
    if p.synthetic_rows and not arg:
        raise UsageError(f"augmentation policy '{name}' needs a generator: write {name}:CHECKPOINT")
    if sep and not p.synthetic_rows:
        raise UsageError(f"augmentation policy '{name}' takes no argument (got '{spec}')")
    return p, arg or None


def trainer_policy(name: str) -> Policy:
    """A policy the trainer itself applies (not one that must be applied to the manifest first)."""
    p = get(name)
    if p.synthetic_rows:
        raise UsageError(f"augmentation policy '{name}' adds rows to the manifest before training "
                         f"(use {name}:CHECKPOINT on the command line)")
    return p


def _classic(x):
    from classify.data import classic

    return classic(x)


policy(Policy("none", "real rows as they are"))
policy(Policy("classic", "random affine (rotate +-10 deg, shift +-6 %, scale 0.9-1.1) and brightness/contrast "
                         "+-10 %, no flips", batch=_classic))
policy(Policy("oversample", "class-balanced sampling with replacement", balanced_sampling=True))
policy(Policy("gan", "synthetic rows from a class-conditional GAN top up the rare classes (gan:CHECKPOINT)",
              synthetic_rows=True))

"""The study's arms, each declared once (:func:`arm`): a name, the classifier augmentation policies
it combines (:mod:`classify.policies`), and the arms it is compared with.

An arm whose policies include one with ``synthetic_rows`` (``gan``) trains on the real train rows
plus synthetic rows sampled from the seed's generator; the others on the real rows. Every arm has
the same budget and is evaluated on the same real test rows. Declaration order is run order: the
arms with synthetic rows come after ``baseline``, whose classifier filters their candidates.

``reference``: the arm every other one is compared with (one arm). ``headline``: the arm the verdict
leads with. ``compare_with``: further arms this one is measured against, each with the sentence the
verdict uses (``{d}`` the mean delta, ``{paired}`` the paired per-seed delta or "", ``{better}``
``better_text`` or ``worse_text``).
"""

from __future__ import annotations

import dataclasses

from classify.policies import get as get_policy
from manifests.registry import lookup


@dataclasses.dataclass(frozen=True)
class Comparison:
    other: str
    sentence: str
    better_text: str = ""
    worse_text: str = ""


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    policies: tuple[str, ...]
    help: str
    label: str = ""                               # how the verdict names it (default: the name)
    reference: bool = False
    headline: bool = False
    compare_with: tuple[Comparison, ...] = ()
    vs_reference_in_verdict: bool = True          # a "<arm> vs <reference>: +d" sentence at the end

    @property
    def synthetic(self) -> bool:
        """Trains on real + synthetic rows."""
        return any(get_policy(p).synthetic_rows for p in self.policies)

    @property
    def trainer_policy(self) -> str:
        """The policy the classifier trainer applies (at most one; ``none`` when the arm has none)."""
        own = [p for p in self.policies if not get_policy(p).synthetic_rows]
        if len(own) > 1:
            raise ValueError(f"arm '{self.name}': at most one trainer policy, got {own}")
        return own[0] if own else "none"


#: name -> Arm, in run order.
REGISTRY: dict[str, Arm] = {}


def arm(a: Arm) -> Arm:
    if a.name in REGISTRY:
        raise ValueError(f"study arm '{a.name}' declared twice")
    for p in a.policies:
        get_policy(p)
    REGISTRY[a.name] = a
    return a


def get(name: str) -> Arm:
    return lookup(REGISTRY, name, "study arm")


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def reference() -> Arm:
    return next(a for a in REGISTRY.values() if a.reference)


arm(Arm("baseline", (), "real train rows, no augmentation", reference=True, vs_reference_in_verdict=False))
arm(Arm("classic", ("classic",), "real rows, random affine + intensity augmentation"))
arm(Arm("oversample", ("oversample",), "real rows, class-balanced sampling with replacement"))
arm(Arm("gan", ("gan",), "real rows + synthetic rows from a GAN trained on the train split only", label="GAN",
        headline=True, vs_reference_in_verdict=False,
        compare_with=(Comparison("classic", " GAN vs classic augmentation: delta {d} ({better}).",
                                 better_text="GAN better", worse_text="GAN does not beat classic"),)))
arm(Arm("classic+gan", ("classic", "gan"), "the same real + synthetic rows with classic augmentation on top "
        "(Frid-Adar et al. 2018: what synthetic rows add to classic augmentation)",
        compare_with=(Comparison("classic", " Synthetic rows on top of classic augmentation (classic+gan vs classic): "
                                            "delta {d}{paired}."),)))

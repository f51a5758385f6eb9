"""Inter-annotator agreement on finding states.

* per task: for each finding, the fraction of annotators agreeing with the majority state and the
  fraction of annotator pairs that agree; the task's ``pairwise`` is the mean over findings;
* per project: Krippendorff's alpha (nominal) per finding and pooled over findings, with units =
  (task, finding) labelled by at least two annotators.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import combinations


def task_agreement(states_by_annotator: Mapping[str, Mapping[str, str]]) -> dict | None:
    """``{annotator: {finding: state}}`` -> agreement dict, or None with fewer than two annotators."""
    people = [a for a, s in states_by_annotator.items() if s]
    if len(people) < 2:
        return None
    findings = sorted({f for a in people for f in states_by_annotator[a]})
    per_finding: dict[str, dict] = {}
    for f in findings:
        values = [states_by_annotator[a].get(f, "not_mentioned") for a in people]
        pairs = list(combinations(values, 2))
        top_state, top = Counter(values).most_common(1)[0]
        per_finding[f] = {"majority": top_state, "majority_fraction": top / len(values),
                          "pairwise": sum(x == y for x, y in pairs) / len(pairs)}
    pairwise = sum(v["pairwise"] for v in per_finding.values()) / len(per_finding) if per_finding else 1.0
    return {"annotators": len(people), "pairwise": pairwise,
            "disagreements": sorted(f for f, v in per_finding.items() if v["pairwise"] < 1.0),
            "per_finding": per_finding}


def krippendorff_alpha_nominal(units: Iterable[list[str]]) -> float | None:
    """Nominal alpha over units (each a list of values from different coders); None when undefined."""
    coincidence: Counter = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i != j:
                    coincidence[(a, b)] += 1.0 / (m - 1)
    n_c: Counter = Counter()
    for (a, _b), w in coincidence.items():
        n_c[a] += w
    n = sum(n_c.values())
    if n <= 1:
        return None
    d_o = sum(w for (a, b), w in coincidence.items() if a != b)
    d_e = sum(n_c[a] * n_c[b] for a in n_c for b in n_c if a != b) / (n - 1)
    if d_e == 0:
        return 1.0 if d_o == 0 else None
    return 1.0 - d_o / d_e


def project_agreement(tasks: Iterable[Mapping[str, Mapping[str, str]]]) -> dict:
    """Alpha per finding and pooled, over tasks given as ``{annotator: {finding: state}}``."""
    by_finding: dict[str, list[list[str]]] = {}
    n_tasks = 0
    for states_by_annotator in tasks:
        people = [a for a, s in states_by_annotator.items() if s]
        if len(people) < 2:
            continue
        n_tasks += 1
        for f in sorted({f for a in people for f in states_by_annotator[a]}):
            by_finding.setdefault(f, []).append([states_by_annotator[a].get(f, "not_mentioned") for a in people])
    per = {f: krippendorff_alpha_nominal(units) for f, units in by_finding.items()}
    pooled = krippendorff_alpha_nominal([[f"{f}={v}" for v in u] for f, us in by_finding.items() for u in us])
    return {"tasks_with_2plus_annotators": n_tasks, "alpha_nominal": pooled, "alpha_per_finding": per}

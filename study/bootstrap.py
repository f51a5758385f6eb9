"""Patient-level bootstrap confidence intervals for the study's test scores.

A test set with few positives of a class makes AUROC jumpy; seed spreads alone hide that (all
seeds share the test images). Here the test *patients* are resampled with replacement (all images
of a drawn patient come along, so images of one patient never count as independent), and in each
replicate the metric is computed for every seed on the same resample and averaged over seeds: the
interval of the seed-mean, covering both test-set and training (seed) variation as far as the seeds
show it. Differences between two arms use the same resamples (paired), so their interval is much
narrower than the two arms' intervals suggest.
"""

from __future__ import annotations

import numpy as np

#: a replicate in which a class has no positive or no negative is left out of that class's interval
MIN_VALID_FRACTION = 0.5


def auroc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """Weighted AUROC (Mann-Whitney with ties = 1/2); ``w``: row multiplicities (bootstrap counts)."""
    w = np.ones(len(y)) if w is None else w.astype(float)
    pos, neg = w * (y == 1), w * (y == 0)
    npos, nneg = pos.sum(), neg.sum()
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    # group ties: per unique score, total pos and neg weight
    uniq, start = np.unique(s_sorted, return_index=True)
    p = np.add.reduceat(pos[order], start)
    n = np.add.reduceat(neg[order], start)
    neg_below = np.cumsum(n) - n
    return float(((neg_below + 0.5 * n) * p).sum() / (npos * nneg))


def recall(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    pos = w * (y == 1)
    return float((pos * (pred == 1)).sum() / pos.sum()) if pos.sum() else float("nan")


def _draws(patients: list, n_boot: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Row multiplicities (n_boot, N) of a patient-level bootstrap over the rows' ``patients``."""
    uniq, inv = np.unique(np.array([str(p) for p in patients]), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(uniq), np.full(len(uniq), 1 / len(uniq)), size=n_boot)   # (B, P)
    return counts[:, inv], uniq


def bootstrap(per_arm: dict[str, list[dict]], patient_of: dict[str, str], classes: list[str], minority: list[str], *,
              comparisons: list[tuple[str, str]] = (), n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """``per_arm``: {arm: [{"keys", "scores", "targets"} per seed]} over the same test rows.

    Returns {"arms": {arm: {"per_class": {c: {"auroc": ci, "recall": ci}}, "minority_macro_auroc": ci}},
    "deltas": {"a_vs_b": ci of the minority macro AUROC difference}, "n_boot", "patients", "level"}, each ci
    {"estimate", "lo", "hi", "valid"} (estimate: on the full test set, mean over seeds).
    """
    arms = list(per_arm)
    keys = list(per_arm[arms[0]][0]["keys"])
    index = {k: i for i, k in enumerate(keys)}
    patients = [patient_of.get(k, k) for k in keys]
    w, uniq = _draws(patients, n_boot, seed)
    full = np.ones((1, len(keys)))
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    targets = None
    stats: dict[str, dict] = {}      # arm -> class -> metric -> (B,) and full estimate
    for arm, runs in per_arm.items():
        auc_b = {c: np.zeros(n_boot) for c in classes}
        rec_b = {c: np.zeros(n_boot) for c in classes}
        auc_f = {c: 0.0 for c in classes}
        rec_f = {c: 0.0 for c in classes}
        for run in runs:
            order = np.array([index[k] for k in run["keys"]])
            if len(order) != len(keys):
                raise ValueError(f"arm {arm}: seeds were tested on different rows")
            sc = np.empty_like(run["scores"])
            sc[order] = run["scores"]
            tg = np.empty_like(run["targets"])
            tg[order] = run["targets"]
            targets = tg
            pred = sc.argmax(axis=1)
            for j, c in enumerate(classes):
                y = (tg == j).astype(int)
                auc_f[c] += auroc(y, sc[:, j]) / len(runs)
                rec_f[c] += recall(y, (pred == j).astype(int), full[0]) / len(runs)
                auc_b[c] += np.array([auroc(y, sc[:, j], wb) for wb in w]) / len(runs)
                rec_b[c] += np.array([recall(y, (pred == j).astype(int), wb) for wb in w]) / len(runs)
        mm_b = np.nanmean(np.stack([auc_b[c] for c in minority]), axis=0) if minority else np.full(n_boot, np.nan)
        mm_f = float(np.nanmean([auc_f[c] for c in minority])) if minority else float("nan")
        stats[arm] = {"auc": (auc_f, auc_b), "rec": (rec_f, rec_b), "mm": (mm_f, mm_b)}

    def ci(est: float, boot: np.ndarray) -> dict:
        ok = boot[np.isfinite(boot)]
        if not np.isfinite(est) or len(ok) < MIN_VALID_FRACTION * n_boot:
            return {"estimate": None, "lo": None, "hi": None, "valid": int(len(ok))}
        return {"estimate": round(est, 4), "lo": round(float(np.quantile(ok, lo_q)), 4),
                "hi": round(float(np.quantile(ok, hi_q)), 4), "valid": int(len(ok))}

    out = {"n_boot": n_boot, "level": level, "patients": int(len(uniq)), "rows": len(keys),
           "support": {c: int((targets == j).sum()) for j, c in enumerate(classes)}, "arms": {}, "deltas": {}}
    for arm, st in stats.items():
        out["arms"][arm] = {"per_class": {c: {"auroc": ci(st["auc"][0][c], st["auc"][1][c]),
                                              "recall": ci(st["rec"][0][c], st["rec"][1][c])} for c in classes},
                            "minority_macro_auroc": ci(*st["mm"])}
    for a, b in comparisons:
        if a in stats and b in stats:
            d = ci(stats[a]["mm"][0] - stats[b]["mm"][0], stats[a]["mm"][1] - stats[b]["mm"][1])
            ia, ib = out["arms"][a]["minority_macro_auroc"], out["arms"][b]["minority_macro_auroc"]
            d["intervals_apart"] = bool(ia["lo"] is not None and ib["hi"] is not None and ia["lo"] > ib["hi"])
            out["deltas"][f"{a}_vs_{b}"] = d
    return out

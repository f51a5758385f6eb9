"""The demo's image-text step: planted pairs -> curate -> caption the image-only -> consistency -> score.

Wires crawlers (the planted-pairs store), curation (curate, caption, consistency) and classify (the
probability provider of a classifier trained on the demo's main manifest), which only this package
may do. :func:`score_pairs` compares the flags with the planted ground truth:

* recall: planted inconsistent pairs (swapped, wrong_view, wrong_exam) that got at least one flag;
* false-flag rate: clean pairs that got a flag -- the pairs store's clean and captioned image-only
  records plus every record of the main sample (all consistent by construction).
"""

from __future__ import annotations

import time
from pathlib import Path


def score_pairs(truth: dict[str, dict], pairs_manifest: str | Path, clean_manifest: str | Path | None = None) -> dict:
    from crawlers.sample.pairs import PLANTED
    from manifests.io import read_manifest

    rows = read_manifest(pairs_manifest, columns=["source_id", "consistency"]).to_pylist()
    by_kind: dict[str, list[int]] = {}
    missed, false_flags = [], []
    for r in rows:
        t = truth[r["source_id"]]
        flagged = int(bool(r["consistency"] and r["consistency"]["flags"]))
        by_kind.setdefault(t["kind"], []).append(flagged)
        if t["kind"] in PLANTED and not flagged:
            missed.append(r["source_id"])
        if t["kind"] not in PLANTED and flagged:
            false_flags.append(r["source_id"])
    clean = [f for k, v in by_kind.items() if k not in PLANTED for f in v]
    if clean_manifest is not None:
        for r in read_manifest(clean_manifest, columns=["key", "consistency"]).to_pylist():
            flagged = int(bool(r["consistency"] and r["consistency"]["flags"]))
            clean.append(flagged)
            if flagged:
                false_flags.append(r["key"])
    planted = [f for k, v in by_kind.items() if k in PLANTED for f in v]
    return {
        "planted": len(planted), "planted_found": sum(planted),
        "recall": round(sum(planted) / len(planted), 3) if planted else None,
        "clean": len(clean), "clean_flagged": sum(clean),
        "false_flag_rate": round(sum(clean) / len(clean), 3) if clean else None,
        "by_kind": {k: {"n": len(v), "flagged": sum(v)} for k, v in sorted(by_kind.items())},
        "missed": missed[:20], "false_flags": false_flags[:20],
    }


def train_probe_classifier(manifest: str | Path, out: str | Path, *, seed: int = 0, quiet: bool = True) -> Path:
    """A small ``classify`` model on the manifest's train split: the label check's image model."""
    from classify.train import ClassifyConfig, train_classifier

    out = Path(out)
    if not (out / "best.pt").is_file() or not (out / "stats.json").is_file():
        train_classifier(ClassifyConfig(epochs=15, patience=5, size=64, seed=seed, quiet=quiet), manifest, out)
    return out / "best.pt"


def run_pairs(out: str | Path, main_manifest: str | Path, *, n: int = 120, seed: int = 0, size: int = 256,
              ocr: bool = False, quiet: bool = False, classifier: str | Path | None = None) -> dict:
    """The whole step under ``out``; returns timings + :func:`score_pairs` (+ stage summaries)."""
    from crawlers.sample.pairs import PairsConfig, generate_pairs, read_truth
    from curation.caption.run import CaptionConfig, caption_run
    from curation.consistency.run import ConsistencyConfig, consistency_run
    from curation.pipeline import CurateConfig, curate_run
    from medharvest.cmd_pairs import classifier_provider

    out = Path(out)
    t = {}
    t0 = time.perf_counter()
    generate_pairs(PairsConfig(n=n, seed=seed, size=size), out / "data")
    curate_run(CurateConfig(ocr=ocr), [out / "data"], out / "curated")
    t["curate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cap = caption_run(CaptionConfig(captioner="template", only_missing=True), out / "curated", out / "captioned")
    t["caption_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ckpt = Path(classifier) if classifier else train_probe_classifier(main_manifest, out / "classifier", seed=seed,
                                                                      quiet=quiet)
    t["classifier_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    provider = classifier_provider(str(ckpt))
    cfg = ConsistencyConfig()
    pairs = consistency_run(cfg, out / "captioned", out / "consistency", probabilities=provider)
    clean = consistency_run(cfg, main_manifest, out / "consistency_main", probabilities=provider)
    t["consistency_s"] = time.perf_counter() - t0
    score = score_pairs(read_truth(out / "data"), out / "consistency", out / "consistency_main")
    return {**score, "captioned": cap["caption_status"], "pairs_flags": pairs["flags"], "main_flags": clean["flags"],
            "consistency_records_per_s": pairs["records_per_s"], **{k: round(v, 1) for k, v in t.items()}}

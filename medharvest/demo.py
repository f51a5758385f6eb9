"""The demo pipeline (wires the stages; only the CLI package may do that)."""

from __future__ import annotations

import time
from pathlib import Path

from medharvest.output import progress


def _step(name: str, quiet: bool):
    if not quiet:
        print(f"[demo] {name} ...", flush=True)
    return time.perf_counter()


def run_demo(cfg, out: str | Path, *, quiet: bool = False) -> dict:
    from crawlers.sample.generator import SampleConfig, generate
    from curation.pipeline import CurateConfig, curate_run
    from manifests.ops import report, split, stats, validate
    from medharvest.config import as_dict
    from medharvest.runinfo import write_run_json

    out = Path(out)
    data, curated, final = out / "data", out / "curated", out / "manifest"
    timings: dict[str, float] = {}

    t = _step("sample: generating the synthetic dataset", quiet)
    sample = generate(SampleConfig(n=cfg.n, seed=cfg.seed, size=cfg.size), data,
                      progress=lambda it, total: progress(it, total=total, desc="sample", quiet=quiet))
    timings["sample_s"] = time.perf_counter() - t

    t = _step("curate: decode, store, dedup, OCR + redaction, report labels, scrub", quiet)
    curate = curate_run(CurateConfig(ocr=cfg.ocr), [data], curated,
                        progress=lambda it: progress(it, desc="curate", quiet=quiet))
    timings["curate_s"] = time.perf_counter() - t

    t = _step("manifest: patient-grouped split, validation, stats, datasheet", quiet)
    final.mkdir(parents=True, exist_ok=True)
    manifest_path, split_summary = split.split_file(curated / "manifest.parquet", final / "manifest.parquet",
                                                    split.SplitConfig(seed=cfg.seed))
    # the split manifest's image_path values are rebased onto the curated image store
    check = validate.validate_manifest(manifest_path, files=True)
    st = stats.compute_file(manifest_path)
    report_path, _ = report.write_report(manifest_path, final / "report.html")
    timings["manifest_s"] = time.perf_counter() - t

    summary = {
        "sample_items": sample["items"],
        "records": curate.get("records"),
        "record_status": curate.get("status"),
        "splits": st["by_split"],
        "split_warnings": split_summary.get("warnings") or [],
        "valid": check.ok,
        "validation": check.summary()["counts"],
        "manifest": str(manifest_path),
        "report": str(report_path),
    }
    if cfg.study:
        from study.runner import run_experiment

        t = _step(f"study: baseline vs classic vs oversample vs GAN, {cfg.seeds} seed(s)", quiet)
        study = run_experiment(manifest_path, out / "study", seeds=cfg.seeds, budget=cfg.budget)
        timings["study_s"] = time.perf_counter() - t
        summary["study"] = study.get("html") or str(out / "study")
        summary["study_table"] = study.get("table_md")
        summary["study_verdict"] = study.get("verdict")
    # after the study, so nothing it does (RNG state included) can touch the study
    if getattr(cfg, "pairs", False):
        from medharvest.pairs_demo import run_pairs

        t = _step("pairs: planted image-text pairs -> caption the image-only -> consistency check", quiet)
        pairs = run_pairs(out / "pairs", manifest_path, seed=cfg.seed, size=cfg.size, ocr=False, quiet=quiet)
        timings["pairs_s"] = time.perf_counter() - t
        summary["pairs_recall"] = pairs["recall"]
        summary["pairs_false_flag_rate"] = pairs["false_flag_rate"]
        summary["pairs"] = {k: pairs[k] for k in ("planted", "planted_found", "clean", "clean_flagged", "by_kind",
                                                 "captioned", "consistency_records_per_s")}
        if not quiet:
            print(f"[demo] pairs: planted inconsistent pairs found {pairs['planted_found']}/{pairs['planted']} "
                  f"(recall {pairs['recall']:.3f}); clean pairs flagged {pairs['clean_flagged']}/{pairs['clean']} "
                  f"(false-flag rate {pairs['false_flag_rate']:.3f})", flush=True)
    summary.update({k: round(v, 1) for k, v in timings.items()})
    write_run_json(out, "demo", as_dict(cfg), summary)
    return summary

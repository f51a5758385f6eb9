"""Benchmark: burned-in identifier detection -- box recall / precision and images/s on 2 cores.

Scores ``medharvest curate phi-scan`` on
* ``../shared/data/pseudo_phi_dicom_burned_in/`` (word boxes of 0_ORIGINAL and 2_ORIGINAL; real
  TCIA radiograph + CT, 2140x1760 and 394x552), and
* the sample dataset's planted identifiers (``<sample>/raw/sample/ground_truth.jsonl``; generated
  with ``medharvest sample`` into a temp dir unless ``--sample DIR`` is given).

Also: throughput on 1-3k px radiographs (the pseudo-PHI images + pydicom-data CR images, each
twice), and false positives on 60 real published radiographs without planted identifiers
(``../shared/data/covid_cxr_small``). Prints recall, precision, images/s (2 worker processes, OMP_THREAD_LIMIT=1) and the per-stage
split (OCR vs decode + write). Usage: ``uv run python benches/bench_phi_scan.py [--passes bright inverted]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from curation.ocr.phi_scan import PhiScanConfig, phi_scan  # noqa: E402
from curation.ocr.score import presidio_truth, score_image, totals  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "pseudo_phi_dicom_burned_in"


def _pydicom_radiographs() -> list[Path]:
    """CR radiographs of ~1.9k px from pydicom-data, when installed."""
    import warnings

    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        return []
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("RG1_UNCR.dcm", "RG3_UNCR.dcm"):
            p = get_testdata_file(name)
            if p:
                out.append(Path(p))
    return out


def run(label: str, paths: list[Path], truth: dict[str, list[dict]], cfg: PhiScanConfig, tmp: Path, redact: bool,
        score: bool = True) -> dict:
    out = tmp / f"{label}.json"
    summary = phi_scan(paths, out, cfg=cfg, redacted_dir=tmp / f"{label}_red" if redact else None)
    entries = {e["path"]: e for e in json.loads(out.read_text())}
    counts = []
    for p in paths:
        e = entries[str(p)]
        if e.get("status") != "ok":
            continue
        counts.append(score_image(e["boxes"], truth.get(str(p), []), (e["height"], e["width"])))
    scores = totals(counts) if score else {}
    if score and not any(truth.values()):
        scores = {"images_flagged": sum(bool(entries[str(p)]["boxes"]) for p in paths), "boxes_flagged": scores["pred_boxes"]}
    res = {"set": label, "images": len(paths), "loadavg_1m": round(os.getloadavg()[0], 1), **scores, **{k: summary[k] for k in (
        "images_per_s", "seconds", "ocr_seconds", "other_seconds", "not_clean_after_redaction")}}
    print(json.dumps(res))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passes", nargs="+", default=list(PhiScanConfig().passes))
    ap.add_argument("--sample", type=Path, help="a `medharvest sample` output dir (default: generate one)")
    ap.add_argument("--redact", action="store_true", help="also redact + verify (second OCR pass)")
    args = ap.parse_args()
    cfg = PhiScanConfig(passes=tuple(args.passes), workers=2)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        if SHARED.exists():
            gt = json.loads((SHARED / "ground_truth_0_and_2.json").read_text())
            files = {"sample_data/0_ORIGINAL.dcm": SHARED / "0_ORIGINAL_compressed.dcm", "sample_data/2_ORIGINAL.dcm": SHARED / "2_ORIGINAL.dcm"}
            truth = {str(p): presidio_truth(gt, name) for name, p in files.items()}
            run("pseudo_phi", list(files.values()), truth, cfg, tmp, args.redact)
            big = [SHARED / "0_ORIGINAL_compressed.dcm", SHARED / "1_ORIGINAL.png", SHARED / "3_ORIGINAL.png"]
            big += [p for p in _pydicom_radiographs()]
            run("radiographs_1-3k_px", big * 2, {}, cfg, tmp, args.redact, score=False)
        covid = SHARED.parent / "covid_cxr_small" / "images"
        if covid.exists():  # real published radiographs, no planted identifiers: every flag is a false positive
            run("covid_cxr_no_phi", sorted(covid.iterdir())[:60], {}, cfg, tmp, args.redact)
        sample = args.sample
        if sample is None:
            sample = tmp / "sample"
            subprocess.run([sys.executable, "-m", "medharvest", "sample", "--out", str(sample), "-q"], check=True, cwd=REPO,
                           stdout=subprocess.DEVNULL)
        root = sample / "raw" / "sample"
        items = {json.loads(x)["source_id"]: json.loads(x) for x in (root / "items.jsonl").read_text().splitlines() if x.strip()}
        gts = [json.loads(x) for x in (root / "ground_truth.jsonl").read_text().splitlines() if x.strip()]
        with_text = [g for g in gts if g["burned_in"]]
        without = [g for g in gts if not g["burned_in"]][: len(with_text)]
        paths, truth = [], {}
        for g in with_text + without:
            p = root / items[g["source_id"]]["file"]
            paths.append(p)
            truth[str(p)] = g["burned_in"]
        run("sample", paths, truth, cfg, tmp, args.redact)


if __name__ == "__main__":
    main()

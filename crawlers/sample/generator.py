"""Plan and write the sample dataset: patients, studies, classes, formats, identifiers, duplicates.

The plan (who has which finding, which image is DICOM, which has burned-in text, which are
duplicates) is drawn from the seed up front; each image is then rendered from its own generator
``default_rng([seed, 1, index])``, so the same seed gives byte-identical files and items, and a
re-run resumes: it re-renders everything (cheap) but appends only the items not yet written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from crawlers.sample import anatomy, findings, phi, reports
from manifests.errors import UsageError
from manifests.io import write_json_atomic
from manifests.raw import RawItem, RawStore

SOURCE = "sample"
GENERATOR_VERSION = "medharvest-sample/1"
LICENSE = "CC0-1.0"
LICENSE_URL = "https://creativecommons.org/publicdomain/zero/1.0/"
ATTRIBUTION = "medharvest synthetic sample"
#: The nominal release time of the generated data, so items are byte-identical across runs.
RETRIEVED_AT = "2026-01-01T00:00:00+00:00"

#: Share of primary classes among original images (ChestX-ray14 single-label-like imbalance).
CLASS_WEIGHTS: dict[str, float] = {
    "No Finding": 0.50, "Infiltration": 0.14, "Effusion": 0.12, "Atelectasis": 0.09,
    "Nodule": 0.045, "Mass": 0.035, "Pneumothorax": 0.035, "Cardiomegaly": 0.035,
}
#: Second findings that co-occur plausibly (for the few multi-label images).
SECOND = {"Cardiomegaly": "Effusion", "Effusion": "Atelectasis", "Atelectasis": "Effusion",
          "Infiltration": "Effusion", "Mass": "Effusion", "Nodule": "Infiltration", "Pneumothorax": "Atelectasis"}


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    n: int = 400
    seed: int = 0
    size: int = 256
    dicom_rate: float = 0.10
    burn_rate: float = 0.07
    text_phi_rate: float = 0.12
    dup_rate: float = 0.02
    near_dup_rate: float = 0.02
    multi_rate: float = 0.06

    def __post_init__(self):
        if not 20 <= self.n <= 100_000:
            raise ValueError(f"n must be between 20 and 100000, got {self.n}")
        if not 64 <= self.size <= 2048:
            raise ValueError(f"size must be between 64 and 2048 pixels, got {self.size}")
        for name in ("dicom_rate", "burn_rate", "text_phi_rate", "dup_rate", "near_dup_rate", "multi_rate"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"{name} must be between 0 and 0.5, got {getattr(self, name)}")


def quotas(n: int, weights: dict[str, float]) -> dict[str, int]:
    """Largest-remainder apportionment of ``n`` over ``weights`` (exact counts, deterministic)."""
    total = sum(weights.values())
    raw = {k: n * w / total for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), k))[: n - sum(out.values())]:
        out[k] += 1
    return out


def plan(cfg: SampleConfig) -> list[dict]:
    """One dict per item: ids, patient, class(es), format and planted problems."""
    r = random.Random(f"plan-{cfg.seed}")
    n_dup = round(cfg.n * cfg.dup_rate)
    n_near = round(cfg.n * cfg.near_dup_rate)
    n_base = cfg.n - n_dup - n_near
    classes = [c for c, k in quotas(n_base, CLASS_WEIGHTS).items() for _ in range(k)]
    r.shuffle(classes)
    items: list[dict] = []
    patient = 0
    while len(items) < n_base:
        patient += 1
        ident = phi.fake_identity(r)
        pid = f"SP{patient:05d}"
        for s in range(min(r.choices([1, 2, 3, 4], weights=[35, 30, 20, 15])[0], n_base - len(items))):
            idx = len(items)
            primary = classes[idx]
            found = [primary] if primary != "No Finding" else []
            if found and r.random() < cfg.multi_rate:
                found.append(SECOND[primary])
            date = phi.study_date(r, ident["birth"])
            items.append({
                "index": idx, "source_id": f"s{idx + 1:05d}", "patient_id": pid, "study_id": f"{pid}-{s + 1:02d}",
                "patient": patient, "ident": ident, "date": date, "findings": found,
                "view": r.choices(["PA", "AP"], weights=[72, 28])[0], "modality": r.choice(["CR", "DX"]),
                "dicom": r.random() < cfg.dicom_rate, "burn": r.random() < cfg.burn_rate,
                "text_phi": r.random() < cfg.text_phi_rate,
            })
    dicoms = [it for it in items if it["dicom"]]
    for k, it in enumerate(dicoms):
        it["photometric"] = "MONOCHROME1" if k % 6 == 1 else "MONOCHROME2"
    pngs = [it for it in items if not it["dicom"]]
    originals = r.sample(pngs, k=min(len(pngs), n_dup + n_near))
    kinds = ["noise", "brightness", "jpeg"]
    for k, orig in enumerate(originals):
        idx = len(items)
        dup = {**orig, "index": idx, "source_id": f"s{idx + 1:05d}", "study_id": f"{orig['study_id']}-R"}
        if k < n_dup:
            dup["dup_of"] = orig["source_id"]
        else:
            dup["near_dup_of"] = orig["source_id"]
            dup["near_dup_kind"] = kinds[k % 3]
        items.append(dup)
    return items


def render(cfg: SampleConfig, it: dict) -> tuple[np.ndarray, dict]:
    """The 8-bit image of one planned item and its finding details/boxes."""
    rng = np.random.default_rng([cfg.seed, 1, it["patient"]])
    an = anatomy.patient_anatomy(rng)
    rng = np.random.default_rng([cfg.seed, 2, it["index"]])
    pose = anatomy.study_pose(rng)
    u, v = anatomy.grid(cfg.size, pose)
    enlarge = float(rng.uniform(*findings.HEART_ENLARGE)) if "Cardiomegaly" in it["findings"] else 1.0
    if it["view"] == "AP":
        enlarge *= 1.06  # AP magnifies the heart a little
    chest = anatomy.render_chest(u, v, an, rng, heart_enlarge=enlarge)
    details: dict[str, dict] = {}
    boxes = []
    for name in it["findings"]:
        if name == "Cardiomegaly":
            mask, detail = chest["heart"], {"size": "moderate"}
        else:
            mask, detail = findings.DRAWERS[name](chest, u, v, an, rng)
        details[name] = detail
        box = findings.box_of(mask)
        if box:
            boxes.append({"label": name, **box})
    return anatomy.finish(chest["img"], rng), {"details": details, "boxes": boxes}


def _near_variant(data: bytes, kind: str, seed: list[int]) -> tuple[bytes, str]:
    rng = np.random.default_rng(seed)
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32)
    buf = io.BytesIO()
    if kind == "jpeg":
        Image.fromarray(arr.astype(np.uint8)).save(buf, format="JPEG", quality=88)
        return buf.getvalue(), "jpg"
    if kind == "noise":
        arr = arr + rng.normal(0, 2.0, arr.shape)
    else:
        arr = arr * 1.04 + 6
    Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue(), "png"


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def generate(cfg: SampleConfig, out_dir: str | Path, *, progress=lambda it, total: it) -> dict:
    """Write the sample raw store under ``out_dir/raw/sample``; returns the stats summary."""
    store = RawStore(out_dir, SOURCE)
    params = {"generator": GENERATOR_VERSION, **dataclasses.asdict(cfg)}
    params_path = store.root / "params.json"
    if params_path.exists():
        old = json.loads(params_path.read_text(encoding="utf-8"))
        if old != params:
            diff = {k: (old.get(k), v) for k, v in params.items() if old.get(k) != v}
            raise UsageError(f"'{store.root}' already holds a sample made with other settings {diff}; use another --out")
    items = plan(cfg)
    done = store.done_ids()
    gt_path = store.root / "ground_truth.jsonl"
    if store.stats_path.exists() and gt_path.exists() and done >= {it["source_id"] for it in items}:
        return json.loads(store.stats_path.read_text(encoding="utf-8"))   # already complete: a no-op
    store.open()
    write_json_atomic(params_path, params)
    truth: list[dict] = []
    written: dict[str, tuple[bytes, str, str, dict]] = {}   # source_id -> (bytes, ext, text, truth)
    counts = {"dicom": 0, "burned_in": 0, "text_identifiers": 0, "exact_duplicates": 0, "near_duplicates": 0}
    per_class: dict[str, int] = {}
    try:
        for it in progress(items, len(items)):
            tr = random.Random(f"text-{cfg.seed}-{it['index']}")
            gt = {"source_id": it["source_id"], "patient_id": it["patient_id"], "study_id": it["study_id"],
                  "findings": list(it["findings"]), "dup_of": it.get("dup_of"), "near_dup_of": it.get("near_dup_of"),
                  "near_dup_kind": it.get("near_dup_kind"), "is_dicom": False, "photometric": None,
                  "header_identifiers": {}, "burned_in": [], "text_identifiers": []}
            if it.get("dup_of") or it.get("near_dup_of"):
                orig_id = it.get("dup_of") or it.get("near_dup_of")
                data, ext, text, orig_gt = written[orig_id]
                if it.get("near_dup_of"):
                    data, ext = _near_variant(data, it["near_dup_kind"], [cfg.seed, 3, it["index"]])
                    counts["near_duplicates"] += 1
                else:
                    counts["exact_duplicates"] += 1
                for k in ("report_labels", "finding_boxes", "burned_in", "text_identifiers"):
                    gt[k] = orig_gt[k]
            else:
                img, info = render(cfg, it)
                if it["burn"]:
                    img, gt["burned_in"] = phi.burn_in(img, it["ident"], it["date"], tr)
                    counts["burned_in"] += 1
                ident = {**it["ident"], "study_date": it["date"].strftime("%B %d, %Y")} if it["text_phi"] else None
                text, stated, spans = reports.write_report(info["details"], tr, view=it["view"], identity=ident)
                counts["text_identifiers"] += bool(spans)
                gt.update(report_labels=stated, finding_boxes=info["boxes"], text_identifiers=spans)
                for f in it["findings"] or ["No Finding"]:
                    per_class[f] = per_class.get(f, 0) + 1
                if it["dicom"]:
                    path = store.files_dir / f"{it['source_id']}.dcm"
                    age = it["date"].year - it["ident"]["birth"].year
                    gt["header_identifiers"] = phi.write_dicom(
                        path, img, ident=it["ident"], date=it["date"], modality=it["modality"], view=it["view"],
                        photometric=it["photometric"], uid_seed=f"{cfg.seed}-{it['source_id']}", age=age)
                    gt["is_dicom"], gt["photometric"] = True, it["photometric"]
                    counts["dicom"] += 1
                    data, ext = path.read_bytes(), "dcm"
                else:
                    data, ext = _png_bytes(img), "png"
            written[it["source_id"]] = (data, ext, text, gt)
            truth.append(gt)
            rel = f"files/{it['source_id']}.{ext}"
            if it["source_id"] in done:
                continue
            if ext != "dcm":
                tmp = store.root / (rel + ".tmp")
                tmp.write_bytes(data)
                shutil.move(tmp, store.root / rel)
            store.append(RawItem(
                source=SOURCE, source_id=it["source_id"], file=rel, sha256=hashlib.sha256(data).hexdigest(),
                text=text, text_kind="report", license=LICENSE, license_url=LICENSE_URL, attribution=ATTRIBUTION,
                source_url=f"medharvest://sample/{it['source_id']}", retrieved_at=RETRIEVED_AT,
                patient_id=it["patient_id"], study_id=it["study_id"], modality=it["modality"], body_part="chest",
                view=it["view"], meta={"generator": GENERATOR_VERSION, "seed": cfg.seed, "format": ext,
                                       "patient_sex": it["ident"]["sex"],
                                       "patient_age": it["date"].year - it["ident"]["birth"].year},
            ))
    finally:
        store.__exit__()
    tmp = gt_path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for gt in truth:
            fh.write(json.dumps(gt, sort_keys=True) + "\n")
    tmp.replace(gt_path)
    return store.close({"params": params, "classes": dict(sorted(per_class.items())), **counts})

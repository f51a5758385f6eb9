"""Planted image-text pairs: a second, separate raw store ``<out>/raw/sample_pairs/`` for the
consistency check and the captioners, with its ground truth.

The main sample (:mod:`crawlers.sample.generator`) is left exactly as it was (same items, same
bytes), so everything that uses it -- the demo's augmentation study included -- is unchanged. This
store is drawn from its own seed stream (``[seed, 7, ...]``, patients ``PP#####``) and holds, per
item, one of:

Every report opens with the patient's age and sex ("HISTORY: 67-year-old woman with cough."), as
real reports often do, and the items carry ``patient_sex`` / ``patient_age`` in their metadata like
the main sample (a DICOM header's PatientSex / PatientAge). Kinds:

* ``clean`` -- the image and its own report (consistent);
* ``image_only`` -- no text at all (the demo captions these);
* ``swapped`` -- the report of another patient whose findings differ from the image's
  ("reports swapped between patients"; a swap between two normal studies is not planted, since no
  check could or should see it);
* ``wrong_view`` -- its own findings, but the text names another view than the header
  (PA <-> AP, or LATERAL);
* ``wrong_exam`` -- a CT abdomen / MRI brain report on a chest radiograph.

``pairs_truth.jsonl``: ``{source_id, kind, findings (drawn), text_findings (what the text states
positive), header_view, text_view}``; curation never reads it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
import shutil
from pathlib import Path

from PIL import Image

from crawlers.sample import reports
from crawlers.sample.generator import ATTRIBUTION, LICENSE, LICENSE_URL, RETRIEVED_AT, SampleConfig, plan, render
from manifests.errors import UsageError
from manifests.io import write_json_atomic
from manifests.raw import RawItem, RawStore

SOURCE = "sample_pairs"
VERSION = "medharvest-sample-pairs/1"
KINDS = ("clean", "image_only", "swapped", "wrong_view", "wrong_exam")
PLANTED = ("swapped", "wrong_view", "wrong_exam")

COMPLAINTS = ("cough", "shortness of breath", "chest pain", "fever", "dyspnea", "follow-up of a known finding")
OTHER_EXAMS = (
    "EXAMINATION: CT ABDOMEN AND PELVIS WITH CONTRAST\n\nFINDINGS: The liver, spleen, pancreas and adrenal glands "
    "are unremarkable. No free fluid. No bowel obstruction.\n\nIMPRESSION: No acute abdominal process.\n",
    "MRI BRAIN WITHOUT CONTRAST\n\nFindings: No acute infarct on diffusion-weighted images. The ventricles are "
    "normal in size. No mass effect.\n\nImpression: Normal MRI of the brain.\n",
    "Ultrasound of the abdomen.\n\nFindings: The gallbladder is distended without stones. The common bile duct "
    "measures 4 mm. The kidneys are normal.\n\nImpression: No sonographic abnormality.\n",
    "CT HEAD WITHOUT CONTRAST\n\nFINDINGS: No intracranial hemorrhage, mass or midline shift.\n\n"
    "IMPRESSION: No acute intracranial abnormality.\n",
)


@dataclasses.dataclass(frozen=True)
class PairsConfig:
    n: int = 120
    seed: int = 0
    size: int = 256
    #: share of each kind (largest-remainder counts; the rest are clean)
    image_only: float = 0.25
    swapped: float = 0.25
    wrong_view: float = 0.125
    wrong_exam: float = 0.085

    def __post_init__(self):
        if not 20 <= self.n <= 20_000:
            raise ValueError(f"n must be between 20 and 20000, got {self.n}")
        if sum((self.image_only, self.swapped, self.wrong_view, self.wrong_exam)) > 0.9:
            raise ValueError("the planted kinds and image-only items must leave at least 10 % clean pairs")


def assign_kinds(cfg: PairsConfig, r: random.Random) -> list[str]:
    counts = {k: round(cfg.n * getattr(cfg, k)) for k in ("image_only", "swapped", "wrong_view", "wrong_exam")}
    kinds = [k for k, c in counts.items() for _ in range(c)]
    kinds += ["clean"] * (cfg.n - len(kinds))
    r.shuffle(kinds)
    return kinds


def _wrong_view(view: str, r: random.Random) -> str:
    return r.choice(["AP", "LATERAL"]) if view == "PA" else r.choice(["PA", "LATERAL"])


def _with_view(text: str, view: str) -> str:
    """The report, made to name ``view`` (layouts that name none get a first line that does)."""
    for v in ("PA", "AP"):
        text = text.replace(f"CHEST {v}\n", f"CHEST {view}\n").replace(f"radiograph, {v} view", f"radiograph, {view} view")
    if view not in text:
        text = f"Chest radiograph, {view} view.\n\n{text}"
    return text


def generate_pairs(cfg: PairsConfig, out_dir: str | Path) -> dict:
    """Write ``out_dir/raw/sample_pairs`` (+ ``pairs_truth.jsonl``); returns the stats summary."""
    store = RawStore(out_dir, SOURCE)
    params = {"generator": VERSION, **dataclasses.asdict(cfg)}
    params_path = store.root / "params.json"
    if params_path.exists() and json.loads(params_path.read_text(encoding="utf-8")) != params:
        raise UsageError(f"'{store.root}' already holds planted pairs made with other settings; use another --out")
    base = SampleConfig(n=cfg.n, seed=cfg.seed * 7919 + 7, size=cfg.size, dicom_rate=0.0, burn_rate=0.0,
                        text_phi_rate=0.0, dup_rate=0.0, near_dup_rate=0.0)
    items = plan(base)
    r = random.Random(f"pairs-{cfg.seed}")
    kinds = assign_kinds(cfg, r)
    rendered = []
    for it in items:
        img, info = render(base, it)
        tr = random.Random(f"pairs-text-{cfg.seed}-{it['index']}")
        text, stated, _ = reports.write_report(info["details"], tr, view=it["view"])
        age = it["date"].year - it["ident"]["birth"].year
        who = "woman" if it["ident"]["sex"] == "F" else "man"
        text = f"HISTORY: {age}-year-old {who} with {tr.choice(COMPLAINTS)}.\n\n{text}"
        rendered.append((img, text, stated))
    done = store.done_ids()
    store.open()
    write_json_atomic(params_path, params)
    truth = []
    try:
        for it, kind, (img, own_text, own_stated) in zip(items, kinds, rendered):
            sid = f"p{it['index'] + 1:05d}"
            pid = "PP" + it["patient_id"][2:]
            text, stated, text_view = own_text, own_stated, it["view"]
            if kind == "image_only":
                text, stated, text_view = None, {}, None
            elif kind == "swapped":
                mine = set(it["findings"])
                order = list(range(len(items)))
                random.Random(f"swap-{cfg.seed}-{it['index']}").shuffle(order)
                j = next((j for j in order if items[j]["patient"] != it["patient"]
                          and {f for f, s in rendered[j][2].items() if s == "positive" and f != "No Finding"} != mine),
                         None)
                if j is None:
                    kind = "clean"
                else:
                    text, stated, text_view = rendered[j][1], rendered[j][2], items[j]["view"]
            elif kind == "wrong_view":
                text_view = _wrong_view(it["view"], r)
                text = _with_view(own_text, text_view)
            elif kind == "wrong_exam":
                text, stated, text_view = r.choice(OTHER_EXAMS), {}, None
            truth.append({"source_id": sid, "kind": kind, "findings": list(it["findings"]),
                          "text_findings": sorted(f for f, s in stated.items() if s == "positive"),
                          "header_view": it["view"], "text_view": text_view})
            if sid in done:
                continue
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG", compress_level=1)
            data = buf.getvalue()
            rel = f"files/{sid}.png"
            tmp = store.root / (rel + ".tmp")
            tmp.write_bytes(data)
            shutil.move(tmp, store.root / rel)
            store.append(RawItem(
                source=SOURCE, source_id=sid, file=rel, sha256=hashlib.sha256(data).hexdigest(), text=text,
                text_kind="report" if text else None, license=LICENSE, license_url=LICENSE_URL,
                attribution=ATTRIBUTION, source_url=f"medharvest://sample_pairs/{sid}", retrieved_at=RETRIEVED_AT,
                patient_id=pid, study_id=f"{pid}-{it['index']:04d}", modality=it["modality"], body_part="chest",
                view=it["view"], meta={"generator": VERSION, "seed": cfg.seed, "patient_sex": it["ident"]["sex"],
                                       "patient_age": it["date"].year - it["ident"]["birth"].year}))
    finally:
        store.__exit__()
    tmp = store.root / "pairs_truth.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for t in truth:
            fh.write(json.dumps(t, sort_keys=True) + "\n")
    tmp.replace(store.root / "pairs_truth.jsonl")
    from collections import Counter

    return store.close({"params": params, "kinds": dict(Counter(t["kind"] for t in truth))})


def read_truth(out_dir: str | Path) -> dict[str, dict]:
    """``{source_id: truth}`` of a planted-pairs store (``out_dir`` = the data directory)."""
    path = Path(out_dir) / "raw" / SOURCE / "pairs_truth.jsonl"
    with open(path, encoding="utf-8") as fh:
        return {t["source_id"]: t for t in map(json.loads, fh)}

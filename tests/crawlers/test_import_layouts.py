"""The layout importers: Kaggle/Mendeley chest_xray, class-per-folder (ImageFolder), MedMNIST .npz.

Each on small files written here in the real format, plus the shared copies (skipped when absent).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crawlers import importers
from manifests.errors import UsageError
from manifests.raw import RawStore

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _png(path: Path, value: int = 100, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


def _items(out: Path, source: str) -> dict:
    return {i.source_id: i for i in RawStore(out, source).iter_items()}


def test_chest_xray_layout_subtype_patient_split_and_bad_names(tmp_path):
    root = tmp_path / "chest_xray"
    for rel in ("train/NORMAL/IM-0115-0001.jpeg", "train/NORMAL/NORMAL2-IM-0381-0001.jpeg",
                "train/PNEUMONIA/person1_bacteria_1.jpeg", "train/PNEUMONIA/person1_bacteria_2.jpeg",
                "train/PNEUMONIA/person3_virus_6.jpeg", "val/NORMAL/NORMAL2-IM-1427-0001.jpeg",
                "test/PNEUMONIA/person100_virus_184.jpeg", "test/PNEUMONIA/scan.jpeg",
                "test/NORMAL/person7_bacteria_9.jpeg", "__MACOSX/train/NORMAL/IM-0115-0001.jpeg"):
        _png(root / rel)
    (root / "train" / "NORMAL" / ".DS_Store").write_bytes(b"\0")
    s = importers.run("chest-xray-pediatric", tmp_path, tmp_path / "out")
    items = _items(tmp_path / "out", "chest-xray-pediatric")
    assert s["written"] == len(items) == 9      # the __MACOSX copy and .DS_Store are not images of the set
    b = items["train/PNEUMONIA/person1_bacteria_2.jpeg"]
    assert b.labels == {"Pneumonia": "positive", "No Finding": "negative"} and b.meta["subtype"] == "bacteria"
    assert b.patient_id == items["train/PNEUMONIA/person1_bacteria_1.jpeg"].patient_id == "chest-xray-pediatric:person1"
    assert items["train/PNEUMONIA/person3_virus_6.jpeg"].meta["subtype"] == "virus"
    n = items["train/NORMAL/NORMAL2-IM-0381-0001.jpeg"]
    assert n.labels == {"No Finding": "positive", "Pneumonia": "negative"} and n.patient_id.endswith("NORMAL2-IM-0381")
    assert items["train/NORMAL/IM-0115-0001.jpeg"].patient_id.endswith(":IM-0115")
    assert Counter(i.split for i in items.values()) == {"train": 5, "val": 1, "test": 3}
    assert Path(b.file).is_file() and b.license == "CC-BY-4.0" and "Kermany" in b.attribution
    bad = {k: i.error for k, i in items.items() if i.status == "error"}
    assert set(bad) == {"test/PNEUMONIA/scan.jpeg", "test/NORMAL/person7_bacteria_9.jpeg"}
    assert "no patient id" in bad["test/PNEUMONIA/scan.jpeg"] and "contradicts its folder" in bad["test/NORMAL/person7_bacteria_9.jpeg"]
    again = importers.run("chest-xray-pediatric", tmp_path, tmp_path / "out")     # resume: only the error rows again
    assert again["written"] == 2 and again["skipped_done"] == 7
    with pytest.raises(UsageError, match="chest_xray layout"):
        importers.run("chest-xray-pediatric", tmp_path / "out", tmp_path / "out2")


def test_imagefolder_maps_vocabulary_names_and_keeps_the_others(tmp_path):
    root = tmp_path / "ds"
    for rel in ("train/effusion/a.png", "train/effusion/sub/b.png", "train/normal/c.png", "train/COVID/d.png",
                "valid/COVID/e.png", "test/normal/f.jpg", "train/normal/.hidden.png", "train/normal/notes.txt"):
        _png(root / rel) if rel.endswith((".png", ".jpg")) else (root / rel).write_text("x")
    s = importers.run("imagefolder", root, tmp_path / "out")
    items = _items(tmp_path / "out", "imagefolder")
    assert sorted(items) == ["test/normal/f.jpg", "train/COVID/d.png", "train/effusion/a.png",
                             "train/effusion/sub/b.png", "train/normal/c.png", "valid/COVID/e.png"]
    assert items["train/effusion/sub/b.png"].labels == {"Effusion": "positive", "No Finding": "negative"}
    assert items["train/normal/c.png"].labels == {"Effusion": "negative", "No Finding": "positive"}
    covid = items["valid/COVID/e.png"]
    assert covid.labels == {} and covid.label_source is None and covid.meta["dataset_label"] == "COVID"
    assert covid.split == "val" and items["test/normal/f.jpg"].split == "test"
    assert s["kept_as_dataset_labels"] == ["COVID"] and s["mapped_to_vocabulary"]["normal"] == "No Finding"
    flat = tmp_path / "flat"                      # no split folders: ROOT/<class>/
    _png(flat / "Pneumonia" / "x.png")
    _png(flat / "Cardiomegaly" / "y.png")
    importers.run("imagefolder", flat, tmp_path / "out_flat")
    f = _items(tmp_path / "out_flat", "imagefolder")
    assert f["Pneumonia/x.png"].split is None and f["Pneumonia/x.png"].labels["Pneumonia"] == "positive"
    one = tmp_path / "one"
    _png(one / "only" / "z.png")
    with pytest.raises(UsageError, match="at least two class folders"):
        importers.run("imagefolder", one, tmp_path / "o")


def _medmnist(path: Path, *, multi: bool = False, n=(5, 2, 3), size: int = 28, bad_label: bool = False) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, k in zip(("train", "val", "test"), n):
        arrays[f"{split}_images"] = rng.integers(0, 256, (k, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = (rng.integers(0, 2, (k, 14)) if multi else (np.arange(k) % 2)[:, None]).astype(np.uint8)
    if bad_label:
        arrays["test_labels"][0, 0] = 7
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def test_medmnist_npz_splits_labels_images_and_errors(tmp_path):
    _medmnist(tmp_path / "in" / "pneumoniamnist.npz", bad_label=True)
    _medmnist(tmp_path / "in" / "chestmnist_64.npz", multi=True, n=(3, 1, 1), size=64)
    _medmnist(tmp_path / "in" / "bloodmnist.npz", n=(2, 1, 1))
    s = importers.run("medmnist", tmp_path / "in", tmp_path / "out")
    items = _items(tmp_path / "out", "medmnist")
    assert s["written"] == 10 + 5 + 4 and len(items) == 19
    p1 = items["pneumoniamnist/train/1"]
    assert p1.labels == {"Pneumonia": "positive", "No Finding": "negative"} and p1.split == "train"
    assert p1.meta["dataset_label"] == "pneumonia" and p1.body_part == "chest"
    with np.load(tmp_path / "in" / "pneumoniamnist.npz") as d:      # the PNG is the array, pixel for pixel
        assert np.array_equal(np.asarray(Image.open(p1.file)), d["train_images"][1])
    assert items["pneumoniamnist/test/0"].status == "error" and "outside" in items["pneumoniamnist/test/0"].error
    c = items["chestmnist/train/0"]
    with np.load(tmp_path / "in" / "chestmnist_64.npz") as d:
        row = d["train_labels"][0]
    assert c.labels["Atelectasis"] == ("positive" if row[0] else "negative") and len(c.labels) == 14
    assert np.asarray(Image.open(c.file)).shape == (64, 64)
    blood = items["bloodmnist/train/1"]
    assert blood.labels == {} and blood.meta["dataset_label"] == "class_1"
    again = importers.run("medmnist", tmp_path / "in", tmp_path / "out")
    assert again["skipped_done"] == 18 and again["written"] == 1         # the error row is tried again
    (tmp_path / "bad").mkdir()
    np.savez(tmp_path / "bad" / "x.npz", images=np.zeros(3))
    with pytest.raises(UsageError, match="not a MedMNIST file"):
        importers.run("medmnist", tmp_path / "bad", tmp_path / "o")


@pytest.mark.shared
def test_shared_kermany_and_pneumoniamnist_counts(tmp_path):
    kermany, mnist = SHARED / "kermany_pediatric_128px", SHARED / "pneumoniamnist_28px"
    if not (kermany.is_dir() and mnist.is_dir()):
        pytest.skip("../shared/data/kermany_pediatric_128px or pneumoniamnist_28px absent")
    importers.run("chest-xray-pediatric", kermany, tmp_path / "k")
    items = list(RawStore(tmp_path / "k", "chest-xray-pediatric").iter_items())
    assert len(items) == 5216 and all(i.status == "ok" for i in items)
    assert Counter(i.meta["subtype"] for i in items) == {"bacteria": 2530, "virus": 1345, "normal": 1341}
    import csv

    with open(kermany / "manifest.csv", newline="") as fh:
        published = {r["file"].split("/")[-1]: r["patient_key"] for r in csv.DictReader(fh)}
    # never finer than the published patient keys (IM-0429-0001-0002 is patient IM-0429 here, a
    # group of its own there): a published patient is never split across two of ours
    ours: dict[str, set] = {}
    for i in items:
        ours.setdefault(published[Path(i.file).name], set()).add(i.patient_id)
    assert all(len(v) == 1 for v in ours.values())
    assert 2500 < len({i.patient_id for i in items}) <= len(ours)
    importers.run("medmnist", mnist, tmp_path / "m")
    m = list(RawStore(tmp_path / "m", "medmnist").iter_items())
    assert Counter(i.split for i in m) == {"train": 4708, "val": 524, "test": 624}
    assert Counter(i.meta["dataset_label"] for i in m if i.split == "test") == {"normal": 234, "pneumonia": 390}

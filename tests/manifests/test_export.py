"""Every export format, read back with the library its users open it with (offline, real libraries).

Each reader returns ``{key: {"labels": {finding: state}, "image": sha256}}`` where ``image`` is the
sha256 of the image file's bytes (or, where the library only hands out decoded pixels, the sha256
of the decoded pixels, compared with the same decode of the stored file). The registry contract test
fails when a format has no reader here, so a new format is tested the moment it exists.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from manifests.io import read_manifest, write_manifest
from manifests.ops.export import ExportContext, export, formats
from manifests.ops.export._common import safe_key, unsafe_key
from manifests.schema import from_records, labels_list, primary_labels, record_text
from tests.manifests.conftest import make_records
from tests.manifests.export_cases import build_rich


@pytest.fixture(scope="module", autouse=True)
def hf_offline(tmp_path_factory):
    """Hugging Face libraries offline, with every cache under a temp dir (never ~/.cache)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
        yield


def pixels_sha(img: Image.Image) -> str:
    return hashlib.sha256(img.mode.encode() + str(img.size).encode() + np.asarray(img).tobytes()).hexdigest()


def file_sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    """A 14-row manifest: splits, odd keys, boxes, image identifier boxes, a synthetic row, an error row."""
    return build_rich(tmp_path_factory.mktemp("rich") / "m")


def expected(manifest, *, only_ok=True) -> dict:
    table = read_manifest(manifest)
    out = {}
    for r in table.to_pylist():
        if only_ok and r["status"] != "ok":
            continue
        out[r["key"]] = {"labels": primary_labels(r["labels"]), "image": r["image_sha256"], "row": r}
    return out


def _strip(got: dict) -> dict:
    return {k: {"labels": v["labels"], "image": v["image"]} for k, v in got.items()}


# --- readers: one per format, with the real library -----------------------------------------

def read_hf(out: Path, manifest: Path, tmp_path: Path) -> dict:
    import datasets

    dd = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    got = {}
    for split, ds in dd.items():
        assert isinstance(ds.features["image"], datasets.Image)
        raw = ds.cast_column("image", datasets.Image(decode=False))
        for row, rawrow in zip(ds, raw, strict=True):
            decoded = pixels_sha(row["image"])
            with Image.open(manifest.parent / expected(manifest)[row["key"]]["row"]["image_path"]) as im:
                im.load()
                assert decoded == pixels_sha(im), row["key"]
            got[row["key"]] = {"labels": primary_labels(row["labels"]),
                               "image": hashlib.sha256(rawrow["image"]["bytes"]).hexdigest(), "split": split,
                               "synthetic": row["synthetic"]}
    return got


def read_webdataset(out: Path, manifest: Path, tmp_path: Path) -> dict:
    import webdataset as wds

    shards = sorted(str(p) for p in out.glob("*.tar"))
    got = {}
    for s in wds.WebDataset(shards, shardshuffle=False, empty_check=False):
        meta = json.loads(s["json"])
        assert s["__key__"] == safe_key(meta["key"]) and unsafe_key(s["__key__"]) == meta["key"]
        assert set(s) >= {"png", "json"} and ("txt" in s) == bool(record_text(meta)[0])
        if "txt" in s:
            assert s["txt"].decode() == record_text(meta)[0]
        got[meta["key"]] = {"labels": meta["label_states"], "image": hashlib.sha256(s["png"]).hexdigest()}
    # and the decoding pipeline trainers use
    first = next(iter(wds.WebDataset(shards, shardshuffle=False).decode("pil").to_tuple("png", "json")))
    assert isinstance(first[0], Image.Image) and first[1]["key"] in got
    return got


def read_monai(out: Path, manifest: Path, tmp_path: Path) -> dict:
    from monai.data import load_decathlon_datalist
    from monai.transforms import LoadImaged

    doc = json.loads(out.read_text())
    names = [doc["labels"][str(i)] for i in range(len(doc["labels"]))]
    got = {}
    load = LoadImaged(keys="image", reader="PILReader", image_only=True)
    for key in ("training", "validation", "test"):
        if key not in doc:
            continue
        for item in load_decathlon_datalist(out, is_segmentation=False, data_list_key=key):
            assert Path(item["image"]).is_absolute() and Path(item["image"]).is_file()
            states = item["label_states"]
            want = [{"positive": 1, "negative": 0, "uncertain": -1}.get(states.get(f, ""), 0) for f in names]
            assert item["label"] == want
            got[item["key"]] = {"labels": states, "image": file_sha(item["image"])}
    assert load({"image": item["image"]})["image"].shape[-2:] == (16, 16)
    return got


def read_coco(out: Path, manifest: Path, tmp_path: Path) -> dict:
    from pycocotools.coco import COCO
    from torchvision.datasets import CocoDetection

    coco = COCO(str(out))
    exp = expected(manifest)
    got = {}
    for img in coco.loadImgs(coco.getImgIds()):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        row = exp[img["key"]]["row"]
        lesions = [(coco.cats[a["category_id"]]["name"], a["bbox"]) for a in anns
                   if coco.cats[a["category_id"]]["supercategory"] == "lesion"]
        ids = [(coco.cats[a["category_id"]]["name"], a["bbox"]) for a in anns
               if coco.cats[a["category_id"]]["supercategory"] == "identifier"]
        assert lesions == [(b["label"], [b["x"], b["y"], b["w"], b["h"]]) for b in row["boxes"]]
        outlined = [a for a in anns if coco.cats[a["category_id"]]["supercategory"] == "lesion"]
        for a, b in zip(outlined, row["boxes"], strict=True):
            if b["polygon"] is None:          # a plain box: no outline, its area
                assert "segmentation" not in a and a["area"] == b["w"] * b["h"]
                continue
            assert a["segmentation"] == [b["polygon"]]          # boxes.polygon is COCO's polygon segmentation
            mask = coco.annToMask(a)                              # pycocotools rasterises it at the image size
            assert mask.shape == (img["height"], img["width"])
            ys, xs = np.nonzero(mask)
            assert b["x"] <= xs.min() and xs.max() < b["x"] + b["w"] and b["y"] <= ys.min() and ys.max() < b["y"] + b["h"]
            assert int(mask.sum()) == a["area"] < b["w"] * b["h"]             # the outline's area, not the box's
        assert ids == [(f"identifier/{p['kind']}", [p["left"], p["top"], p["width"], p["height"]])
                       for p in row["phi_flags"] if p["where"] == "image"]
        got[img["key"]] = {"labels": exp[img["key"]]["labels"], "image": file_sha(out.parent / img["file_name"])}
    det = CocoDetection(str(out.parent), str(out))
    image, target = det[0]
    assert image.size == (16, 16) and target and target[0]["bbox"] == [2.0, 3.0, 4.0, 5.0]
    return got


def read_croissant(out: Path, manifest: Path, tmp_path: Path) -> dict:
    import mlcroissant as mlc

    ds = mlc.Dataset(jsonld=str(out / "croissant.json"))
    assert not ds.metadata.ctx.issues.errors and not ds.metadata.ctx.issues.warnings, ds.metadata.ctx.issues.report()
    exp = expected(manifest)
    got = {}
    for rec in ds.records("records"):
        key = rec["records/key"].decode()
        states = {}
        for f in exp[key]["labels"]:
            col = "records/label_" + "".join(c if c.isalnum() else "_" for c in f.lower())
            states[f] = rec[col].decode()
        with Image.open(manifest.parent / exp[key]["row"]["image_path"]) as im:
            im.load()
            assert pixels_sha(rec["records/image"]) == pixels_sha(im)
        got[key] = {"labels": states, "image": exp[key]["image"], "synthetic": rec["records/synthetic"]}
    return got


def read_csv(out: Path, manifest: Path, tmp_path: Path) -> dict:
    import pandas as pd

    df = pd.read_csv(out, keep_default_na=False)
    return {r["key"]: {"labels": primary_labels(json.loads(r["labels"])),
                       "image": file_sha(out.parent / r["image_path"]) if r["image_path"] else None}
            for r in df.to_dict("records")}


def read_jsonl(out: Path, manifest: Path, tmp_path: Path) -> dict:
    import pandas as pd

    df = pd.read_json(out, lines=True, dtype=False)
    return {r["key"]: {"labels": primary_labels(r["labels"]),
                       "image": file_sha(out.parent / r["image_path"]) if r["image_path"] else None}
            for r in df.to_dict("records")}


def read_parquet(out: Path, manifest: Path, tmp_path: Path) -> dict:
    import pyarrow.parquet as pq

    return {r["key"]: {"labels": primary_labels(r["labels"]),
                       "image": file_sha(out.parent / r["image_path"]) if r["image_path"] else None}
            for r in pq.read_table(out).to_pylist()}


#: format -> (output name, reader, exports error rows too)
READERS = {
    "hf": ("hf", read_hf, False), "webdataset": ("wds", read_webdataset, False),
    "monai": ("datalist.json", read_monai, False), "coco": ("coco.json", read_coco, False),
    "croissant": ("croissant", read_croissant, False), "csv": ("m.csv", read_csv, True),
    "jsonl": ("m.jsonl", read_jsonl, True), "parquet": ("m.parquet", read_parquet, True),
}


def test_every_registered_format_has_a_read_back_test():
    assert set(formats()) == set(READERS)
    for name, cls in formats().items():
        assert cls.name == name and cls.summary and cls.opens_with


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_export_round_trips_keys_labels_and_image_bytes(fmt, rich, tmp_path):
    name, reader, with_errors = READERS[fmt]
    out = tmp_path / "out" / name
    summary = export(read_manifest(rich), out, fmt, ctx=ExportContext(images_root=rich.parent, name="rich",
                                                                      shard_size=2))
    want = expected(rich, only_ok=not with_errors)
    if not with_errors:
        assert summary["rows"] == 13 and summary["skipped"] == {"status_error": 1}
    else:
        want["sample:9"]["image"] = read_manifest(rich).to_pylist()[9]["image_sha256"]
    got = reader(out, rich, tmp_path)
    assert set(got) == set(want)
    assert _strip(got) == _strip(want)


def test_hf_splits_card_and_synthetic_rows(rich, tmp_path):
    from huggingface_hub import DatasetCard

    out = tmp_path / "hf"
    export(read_manifest(rich), out, "hf",
           ctx=ExportContext(images_root=rich.parent, name="rich", meta={"split": {"seed": 4}}))
    got = read_hf(out, rich, tmp_path)
    assert {v["split"] for v in got.values()} == {"train", "validation", "test"}
    assert got[expected(rich)["sample:6"]["row"]["key"]]["synthetic"] is True
    import datasets

    streamed = next(iter(datasets.load_dataset(str(out), split="train", streaming=True)))   # how big sets are read
    assert streamed["key"] in got and streamed["image"].size == (16, 16)
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["license"] == ["cc-by-4.0", "cc0-1.0"]
    assert data["size_categories"] == ["n<1K"]
    assert set(data["task_categories"]) == {"image-classification", "object-detection", "image-to-text",
                                            "text-to-image"}
    assert [c["split"] for c in data["configs"][0]["data_files"]] == ["train", "validation", "test"]
    assert "1 of 13 rows are generated images" in card.text and "gan/run1/G_ema.pt" in card.text
    assert "image: 1 detection (name 1), 1 redacted" in card.text
    # the case's splits are by row, not by patient: the card says so instead of trusting the metadata
    assert "groups are in more than one split** (checked on the exported rows)" in card.text


def test_croissant_responsible_ai_fields(rich, tmp_path):
    import mlcroissant as mlc

    out = tmp_path / "cr"
    export(read_manifest(rich), out, "croissant", ctx=ExportContext(images_root=rich.parent, name="rich"))
    doc = json.loads((out / "croissant.json").read_text())
    md = mlc.Dataset(jsonld=str(out / "croissant.json")).metadata
    # mlcroissant parsed the RAI properties (its Metadata fields), with the counts of these rows
    rai = {k: " ".join(v) if isinstance(v, list) else v for k, v in {
        "collection": md.data_collection, "limitations": md.data_limitations, "phi": md.personal_sensitive_information,
        "annotation": md.data_annotation_protocol, "tools": md.machine_annotation_tools}.items()}
    assert "CC-BY-4.0: 1 row (https://creativecommons.org/licenses/by/4.0/)" in rai["collection"]
    assert "1 of 13 records are synthetic" in rai["collection"] and "gan/run1/G_ema.pt" in rai["limitations"]
    assert "never the identifier text" in rai["phi"]
    assert "image: 1 detection (name 1), 1 redacted; text: 1 detection (date 1), 1 redacted" in rai["phi"]
    n_dataset = sum(lab["label_source"] == "dataset" for r in expected(rich).values() for lab in r["row"]["labels"])
    assert f"dataset {n_dataset}, synthetic 1, ner 1" in rai["annotation"]
    assert "Tesseract" in rai["tools"] and "NER" in rai["tools"]
    assert sorted(md.license) == ["CC0", "https://creativecommons.org/licenses/by/4.0/"]
    assert "Synthetic data (GAN)" in doc["rai:dataCollectionType"]
    recs = {r["records/key"].decode(): r for r in mlc.Dataset(jsonld=str(out / "croissant.json")).records("records")}
    assert recs["sample:7"]["records/label_effusion"] == b"uncertain"   # uncertainty kept, not collapsed


def test_webdataset_keys_are_safe_and_shards_deterministic(rich, tmp_path):
    out = tmp_path / "wds"
    ctx = ExportContext(images_root=rich.parent, shard_size=3)
    first = export(read_manifest(rich), out, "webdataset", ctx=ctx)
    assert first["shards"] == {"train": 3, "val": 1, "test": 1}    # 7 + 3 + 3 rows, 3 per shard
    blobs = {p.name: p.read_bytes() for p in out.glob("*.tar")}
    import tarfile

    for name in blobs:
        with tarfile.open(out / name) as tar:
            for member in tar.getnames():
                base = member.split("/")[-1]
                assert "/" not in member and ":" not in member and base.count(".") == 1, member
    # same input, byte-identical shards; fewer shards on re-export removes the extra ones
    export(read_manifest(rich), out, "webdataset", ctx=ctx)
    assert {p.name: p.read_bytes() for p in out.glob("*.tar")} == blobs
    again = export(read_manifest(rich), out, "webdataset", ctx=ExportContext(images_root=rich.parent, shard_size=100))
    assert again["stale_removed"] == 2 and sorted(p.name for p in out.glob("*.tar")) == [
        "test-000000.tar", "train-000000.tar", "val-000000.tar"]


@pytest.mark.parametrize("key", ["sample:abc", "pmc:PMC1/fig.2.a", "w:File:Ünïcode x.png", "a%3Ab", "x~y-z_1"])
def test_safe_key_round_trips(key):
    s = safe_key(key)
    assert unsafe_key(s) == key and all(c.isalnum() or c in "%-_" for c in s)


def test_long_keys_are_cut_with_a_hash_and_stay_unique():
    from manifests.ops.export._common import MAX_SAFE_KEY

    a, b = "pmc:" + "é" * 150 + "a", "pmc:" + "é" * 150 + "b"
    sa, sb = safe_key(a), safe_key(b)
    assert len(sa) <= MAX_SAFE_KEY and sa != sb and "." not in sa
    assert "%" not in sa[-18:] and sa.split("-")[-1] == hashlib.sha256(a.encode()).hexdigest()[:16]


def test_card_cells_from_records_cannot_break_its_tables(tmp_path):
    recs = make_records(tmp_path, 2)
    recs[0].update(license="Custom | terms\nline two", attribution="A | B")
    out = tmp_path / "hf"
    export(from_records(recs), out, "hf", ctx=ExportContext(images_root=tmp_path))
    text = (out / "README.md").read_text()
    assert "| Custom \\| terms line two | 1 |  | A \\| B |" in text
    assert 'license_name: "Custom | terms\\nline two"' in text


def test_unsplit_manifest_goes_to_train_partly_split_to_unassigned(tmp_path):
    from manifests.ops.export._common import HF_SPLITS, split_groups

    recs = make_records(tmp_path, 6)
    table = from_records(recs)
    assert [(s, t.num_rows) for s, t in split_groups(table, HF_SPLITS)] == [("train", 6)]
    for r, s in zip(recs, ["train", "test", None, "val", None, "train"], strict=True):
        r["split"] = s
    groups = [(s, t.num_rows) for s, t in split_groups(from_records(recs), HF_SPLITS)]
    assert groups == [("train", 2), ("validation", 1), ("test", 1), ("unassigned", 2)]


# --- the CLI --------------------------------------------------------------------------------

def _run(argv, capsys):
    from medharvest.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_exports_a_filtered_manifest(rich, tmp_path, capsys):
    where = "split == 'train' and not synthetic"
    rc, out, err = _run(["manifest", "export", str(rich), "--format", "hf", "--out", str(tmp_path / "hf"),
                         "--where", where, "-q"], capsys)
    assert rc == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    want = {k for k, v in expected(rich).items() if v["row"]["split"] == "train" and not v["row"]["synthetic"]}
    assert summary["rows_selected"] == len(want) + 1 and summary["rows"] == len(want)   # + the error row
    assert summary["skipped"] == {"status_error": 1}
    got = read_hf(tmp_path / "hf", rich, tmp_path)
    assert set(got) == want and {v["split"] for v in got.values()} == {"train"}
    rc, out, _ = _run(["manifest", "export", str(rich), "--format", "webdataset", "--out", str(tmp_path / "w"),
                       "--filter", "label('Effusion') == 'uncertain'", "-q"], capsys)
    assert rc == 0 and set(read_webdataset(tmp_path / "w", rich, tmp_path)) == {"sample:7"}


def test_cli_usage_errors_exit_2_before_any_work(rich, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    cases = [
        (["--format", "webdatset", "--out", str(tmp_path / "o")], "did you mean 'webdataset'"),
        (["--format", "hf", "--out", str(tmp_path / "afile")], "writes a directory"),
        (["--format", "hf", "--out", str(tmp_path / "o"), "--shard-size", "0"], "at least 1"),
        (["--out", str(tmp_path / "o")], "no suffix; give --format"),
        (["--out", str(tmp_path / "o.json")], "did you mean 'jsonl'"),
        (["--format", "coco", "--out", str(tmp_path / "o"), "--where", "splt == 'train'"], "did you mean 'split'"),
        (["--format", "webdataset", "--out", str(rich.parent)], "the manifest's own directory"),
    ]
    for extra, message in cases:
        rc, _, err = _run(["manifest", "export", str(rich), *extra], capsys)
        assert rc == 2 and message in err, (extra, err)
    assert not (tmp_path / "o").exists()


def test_cli_help_lists_the_registered_formats(capsys):
    rc, out, _ = _run(["manifest", "export", "--help"], capsys)
    assert rc == 0
    for name, cls in formats().items():
        assert name in out and cls.summary[:30] in out.replace("\n", " ").replace("  ", " ")


def test_readme_export_table_is_the_registry():
    from manifests.ops.export import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table() in readme, "README export table out of date: paste manifests.ops.export.markdown_table()"


def test_export_of_a_manifest_with_synthetic_rows(tmp_path, capsys):
    """Real rows merged with GAN-style synthetic rows (gan/sample.py's record shape, images in another
    directory): every format keeps the synthetic flag and generator; --where 'not synthetic' drops them."""
    import hashlib as _h

    from manifests.labels import NIH15
    from tests.manifests.conftest import png_bytes

    real_dir, syn_dir = tmp_path / "real", tmp_path / "gan"
    real_dir.mkdir()
    write_manifest(from_records(make_records(real_dir, 6, seed=1)), real_dir / "manifest.parquet")
    gid = "c0ffee12"
    recs = []
    for i in range(3):
        rel = f"images/Hernia/{i:05d}.png"
        (syn_dir / "images" / "Hernia").mkdir(parents=True, exist_ok=True)
        (syn_dir / rel).write_bytes(png_bytes(900 + i))
        sid = f"{gid}-Hernia-{i:05d}"
        recs.append({"key": f"synthetic:{sid}", "source": "synthetic", "source_id": sid, "image_path": rel,
                     "image_sha256": _h.sha256((syn_dir / rel).read_bytes()).hexdigest(), "width": 16, "height": 16,
                     "patient_id": f"synthetic:{gid}", "split": "train", "synthetic": True, "generator": gid,
                     "labels": labels_list({f: "positive" if f == "Hernia" else "negative" for f in NIH15},
                                           "synthetic", annotator=gid)})
    write_manifest(from_records(recs), syn_dir / "manifest.parquet")
    rc, _, err = _run(["manifest", "merge", str(real_dir), str(syn_dir), "--out", str(tmp_path / "merged"), "-q"],
                      capsys)
    assert rc == 0, err
    merged = tmp_path / "merged" / "manifest.parquet"
    syn_keys = {r["key"] for r in recs}

    assert _run(["manifest", "export", str(merged), "--format", "croissant", "--out", str(tmp_path / "cr"), "-q"],
                capsys)[0] == 0
    got = read_croissant(tmp_path / "cr", merged, tmp_path)
    assert {k for k, v in got.items() if v["synthetic"]} == syn_keys and len(got) == 9
    doc = json.loads((tmp_path / "cr" / "croissant.json").read_text())
    assert f"3 of 9 records are synthetic (field synthetic = true), generated by {gid}" in doc["rai:dataCollection"]
    assert "synthetic 45" in doc["rai:dataAnnotationProtocol"]          # 3 rows x 15 findings

    assert _run(["manifest", "export", str(merged), "--format", "webdataset", "--out", str(tmp_path / "w"), "-q"],
                capsys)[0] == 0
    import webdataset as wds

    metas = [json.loads(s["json"]) for s in wds.WebDataset(sorted(str(p) for p in (tmp_path / "w").glob("*.tar")),
                                                            shardshuffle=False, empty_check=False)]
    assert {m["key"] for m in metas if m["synthetic"]} == syn_keys
    assert all(m["generator"] == gid and m["label_states"]["Hernia"] == "positive" for m in metas if m["synthetic"])

    assert _run(["manifest", "export", str(merged), "--format", "hf", "--out", str(tmp_path / "hf"),
                 "--where", "not synthetic", "-q"], capsys)[0] == 0
    got = read_hf(tmp_path / "hf", merged, tmp_path)
    assert len(got) == 6 and not any(v["synthetic"] for v in got.values())
    assert "None: every image is a real acquisition" in (tmp_path / "hf" / "README.md").read_text()


def test_webdataset_refuses_duplicate_keys(tmp_path):
    from manifests.errors import ManifestError

    recs = make_records(tmp_path, 3)
    recs[2]["key"] = recs[1]["key"]
    with pytest.raises(ManifestError, match="duplicate keys"):
        export(from_records(recs), tmp_path / "w", "webdataset", ctx=ExportContext(images_root=tmp_path))
    assert not (tmp_path / "w").exists()     # refused before any file is written


def test_the_text_for_an_image_falls_back_to_its_newest_ok_caption(rich, tmp_path):
    import datasets
    import mlcroissant as mlc
    import webdataset as wds

    table = read_manifest(rich)
    ctx = ExportContext(images_root=rich.parent)
    for fmt, name in (("hf", "hf"), ("webdataset", "w"), ("croissant", "cr")):
        export(table, tmp_path / name, fmt, ctx=ctx)
    dd = datasets.load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    hf = {r["key"]: r for ds in dd.values() for r in ds.select_columns(["key", "text", "image_text"])}
    assert hf["sample:10"]["text"] is None and hf["sample:10"]["image_text"] == "Frontal chest radiograph."
    assert hf["sample:2"]["image_text"] == hf["sample:2"]["text"] == "report 2"
    txt = {json.loads(s["json"])["key"]: s.get("txt") for s in
           wds.WebDataset(sorted(str(p) for p in (tmp_path / "w").glob("*.tar")), shardshuffle=False)}
    assert txt["sample:10"] == b"Frontal chest radiograph." and txt["sample:6"] is None   # synthetic: no text
    recs = {r["records/key"]: r for r in mlc.Dataset(jsonld=str(tmp_path / "cr" / "croissant.json")).records("records")}
    assert recs[b"sample:10"]["records/image_text"] == b"Frontal chest radiograph."
    assert json.loads(recs[b"sample:10"]["records/captions"])[1]["captioner"] == "template"


def test_coco_exports_an_outline_that_is_no_polygon_as_a_plain_box(tmp_path):
    recs = make_records(tmp_path, 1)
    recs[0]["boxes"] = [{"label": "Mass", "x": 1.0, "y": 1.0, "w": 4.0, "h": 2.0, "polygon": [1.0, 1.0, 5.0, 3.0]}]
    s = export(from_records(recs), tmp_path / "c.json", "coco", ctx=ExportContext(images_root=tmp_path))
    assert s["boxes"] == {"lesion": 1, "identifier": 0, "polygons": 0, "bad_polygons": 1}
    (ann,) = json.loads((tmp_path / "c.json").read_text())["annotations"]
    assert "segmentation" not in ann and ann["area"] == 8.0 and ann["bbox"] == [1.0, 1.0, 4.0, 2.0]


def test_a_shard_being_written_when_an_error_strikes_is_removed(tmp_path):
    import pyarrow as pa

    from manifests.ops.export._common import ROW_GROUP, ParquetShards
    from manifests.ops.export.webdataset import _Shards

    with pytest.raises(RuntimeError), ParquetShards(tmp_path / "p", pa.schema([("k", pa.int64())]), None,
                                                    lambda i: f"s-{i}.parquet") as shards:
        (tmp_path / "p").mkdir()
        for k in range(ROW_GROUP + 1):           # one row group already in the open file
            shards.add({"k": k})
        raise RuntimeError("disk full")
    assert list((tmp_path / "p").iterdir()) == []
    (tmp_path / "w").mkdir()
    with pytest.raises(RuntimeError), _Shards(tmp_path / "w", "train", 2) as tars:
        for k in range(3):                       # shard 0 complete, shard 1 half written
            tars.add(f"k{k}", {"image_path": "x.png"}, b"png")
        raise RuntimeError("disk full")
    assert [p.name for p in (tmp_path / "w").iterdir()] == ["train-000000.tar"] and tars.names == ["train-000000.tar"]

"""curate consistency: structured checks, label agreement through a probability provider, a tiny
random open_clip model loaded through the user path, the manifest filter and the datasheet."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curation.consistency.labels import ProbabilityProvider, label_checks
from curation.consistency.run import ConsistencyConfig, consistency_run
from curation.consistency.structured import structured_checks
from manifests.errors import UsageError
from manifests.io import read_manifest, write_manifest
from manifests.schema import from_records, labels_list
from tests.curation.caption_cases import manifest as _manifest

HDR = {"view": "PA", "modality": "DX", "body_part": "chest", "meta": json.dumps({"patient_sex": "F", "patient_age": 67})}


@pytest.mark.parametrize("text,flags", [
    ("HISTORY: 67-year-old woman with cough.\n\nPA and lateral views of the chest. No effusion.", []),
    ("Chest radiograph, AP view.\n\nFindings: clear lungs.", ["view_mismatch"]),
    ("Lateral view of the chest.", ["view_mismatch"]),
    ("Frontal chest radiograph. Clear lungs.", []),
    ("EXAMINATION: CT ABDOMEN AND PELVIS\n\nFINDINGS: normal liver.", ["modality_mismatch", "body_part_mismatch"]),
    ("Possible nodule; CT recommended.", []),                        # another exam, not this one
    ("COMPARISON: CT chest from last year.\n\nFINDINGS: PA radiograph, clear lungs.", []),
    ("HISTORY: 45-year-old man with fever.\n\nClear lungs.", ["demographics_mismatch"]),
    ("HISTORY: 68-year-old woman.", []),                              # a birthday in between
])
def test_structured_checks(text, flags):
    assert structured_checks(HDR, text)[1] == flags


def test_label_checks_need_confident_contradiction():
    classes = ("Effusion", "No Finding", "Nodule")
    p = np.array([0.005, 0.99, 0.005])
    flags, ev = label_checks({"Effusion": "positive"}, p, classes, positive_below=0.01, negative_above=0.95, other_above=0.9)
    assert flags == ["label_contradiction:Effusion"] and ev["Effusion"]["text"] == "positive"
    spread = np.array([0.005, 0.6, 0.395])   # low p, but the model is sure of nothing else
    assert label_checks({"Effusion": "positive"}, spread, classes, positive_below=0.01, negative_above=0.95,
                        other_above=0.9)[0] == []
    assert label_checks({"No Finding": "negative"}, p, classes, positive_below=0.01, negative_above=0.95)[0] == \
        ["label_contradiction:No Finding"]
    assert label_checks({"Effusion": "uncertain"}, p, classes, positive_below=0.01, negative_above=0.95)[0] == []


def test_run_with_provider_filter_and_datasheet(tmp_path):
    from manifests.ops.filter import filter_table
    from manifests.ops.report import write_report

    recs = [{"key": f"s:{i}", "source": "s", "source_id": str(i), "image_path": f"images/{i}.png", **HDR,
             "text": t, "text_kind": "report", "labels": labels_list(st, "ner")}
            for i, (t, st) in enumerate([("PA view. Large effusion.", {"Effusion": "positive"}),
                                         ("AP view. Clear.", {"No Finding": "positive"}),
                                         ("PA view. Clear.", {"No Finding": "positive"})])]
    src = tmp_path / "in"
    _manifest(src, n=3)  # writes the images
    write_manifest(from_records(recs), src / "manifest.parquet")
    probs = {"0": [0.001, 0.998], "1": [0.5, 0.5], "2": [0.02, 0.98]}
    prov = ProbabilityProvider(classes=("Effusion", "No Finding"), name="test-model",
                               predict=lambda paths: np.array([probs[p.stem] for p in paths]))
    with pytest.raises(UsageError, match="never edits its input"):
        consistency_run(ConsistencyConfig(), src, src, probabilities=prov)
    s = consistency_run(ConsistencyConfig(), src, tmp_path / "out", probabilities=prov)
    assert s["checked"] == 3 and s["flagged"] == 2
    assert s["flags"] == {"label_contradiction": 1, "view_mismatch": 1}
    rows = read_manifest(tmp_path / "out").to_pylist()
    assert rows[0]["consistency"]["flags"] == ["label_contradiction:Effusion"] and rows[0]["consistency"]["score"] == 0.5
    assert rows[2]["consistency"]["flags"] == [] and rows[2]["consistency"]["score"] == 1.0
    assert set(rows[0]["consistency"]["checks"]) == {"view", "labels"}
    t = read_manifest(tmp_path / "out")
    assert filter_table(t, "consistency.score < 1").num_rows == 2
    assert filter_table(t, "flag('label_contradiction')").column("key").to_pylist() == ["s:0"]
    assert filter_table(t, "not flag('view_mismatch')").num_rows == 2
    write_report(tmp_path / "out", tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert 'id="pairs"' in page and "Worst pairs" in page and "data:image/jpeg;base64," in page


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    import open_clip
    import torch
    from open_clip.factory import _MODEL_CONFIGS

    d = tmp_path_factory.mktemp("clip")
    model_cfg = {"embed_dim": 16,
                 "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
                 "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg,
                                                         "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.25] * 3}}))
    _MODEL_CONFIGS["tiny-test"] = model_cfg
    torch.manual_seed(0)
    torch.save(open_clip.create_model("tiny-test").state_dict(), d / "open_clip_pytorch_model.bin")
    return d


def test_clip_tiny_random_model_through_the_user_path(tmp_path, tiny_clip):
    from curation.consistency.embedding import ClipScorer

    src = _manifest(tmp_path / "in", n=2, text_every=1)
    clip = ClipScorer.from_dir(tiny_clip, device="cpu")
    s = consistency_run(ConsistencyConfig(clip_min_similarity=1.0), src, tmp_path / "out", clip=clip)
    assert s["checks"]["embedding"] == 2 and s["flags"] == {"low_similarity": 2}
    d = json.loads(read_manifest(tmp_path / "out").to_pylist()[0]["consistency"]["details"])
    assert -1.0 <= d["embedding"]["similarity"] <= 1.0

"""Planted image-text pairs: a separate store with ground truth; the main sample is untouched."""

from __future__ import annotations

import json

from crawlers.sample.pairs import PLANTED, PairsConfig, generate_pairs, read_truth


def test_planted_pairs_and_truth(tmp_path):
    s = generate_pairs(PairsConfig(n=40, seed=3, size=64), tmp_path)
    truth = read_truth(tmp_path)
    items = [json.loads(x) for x in (tmp_path / "raw" / "sample_pairs" / "items.jsonl").read_text().splitlines()]
    assert len(items) == len(truth) == 40 and not (tmp_path / "raw" / "sample").exists()
    assert sum(s["kinds"][k] for k in PLANTED) >= 15 and s["kinds"]["image_only"] == 10
    by_id = {it["source_id"]: it for it in items}
    for sid, t in truth.items():
        it = by_id[sid]
        if t["kind"] == "image_only":
            assert it["text"] is None
        elif t["kind"] == "swapped":
            assert set(t["text_findings"]) - {"No Finding"} != set(t["findings"])
        elif t["kind"] == "wrong_view":
            assert t["text_view"] != it["view"] and t["text_view"] in it["text"]
        elif t["kind"] == "clean":
            age, sex = it["meta"]["patient_age"], it["meta"]["patient_sex"]
            assert f"{age}-year-old {'woman' if sex == 'F' else 'man'}" in it["text"]
    again = generate_pairs(PairsConfig(n=40, seed=3, size=64), tmp_path)   # resumes: nothing new
    assert again["items"] == 40

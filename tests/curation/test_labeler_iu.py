"""The labeler on the real IU chest X-ray reports (../shared): accuracy floor and baseline.

Numbers measured when this was written (benches/bench_labeler.py, strict policy = only positive
mentions count): micro-F1 0.922 over the 13 gold columns (the gold's Hernia column is never coded,
see SOURCES.md), 0.901 over all 14 as given; negspacy on the same lexicon: 0.831 / 0.813.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.shared


def _bench():
    spec = importlib.util.spec_from_file_location("bench_labeler", REPO / "benches" / "bench_labeler.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def iu():
    from tests.conftest import shared_path

    shared_path("data", "iu_cxr_reports", "openi_gld_std14_first926.csv")
    bench = _bench()
    reports, gold = bench.load(shared_path())
    return bench, reports, gold, [bench.report_text(r) for r in reports]


def test_micro_f1_floor_on_iu_gold(iu):
    from curation.text import label_reports

    bench, reports, gold, texts = iu
    ev = bench.evaluate(label_reports(texts), reports, gold, policy="strict")
    assert ev["gold13"]["micro"][2] >= 0.91, ev["gold13"]["micro"]
    assert ev["gold14"]["micro"][2] >= 0.89, ev["gold14"]["micro"]
    assert ev["mesh14"]["micro"][2] >= 0.90, ev["mesh14"]["micro"]
    # every gold finding with support is found at least half of the time
    for finding, (_p, r, _f, support, _fp) in ev["gold13"]["per"].items():
        if support:
            assert r >= 0.5, (finding, r)


def test_beats_negspacy_on_the_same_lexicon(iu):
    from curation.text import label_reports

    bench, reports, gold, texts = iu
    ours = bench.evaluate(label_reports(texts), reports, gold, policy="strict")["gold13"]["micro"][2]
    base = bench.evaluate(bench.negspacy_labeler()(texts), reports, gold, policy="strict")["gold13"]["micro"][2]
    assert ours > base + 0.03, (ours, base)


def test_curate_labels_on_the_iu_csv(iu, tmp_path):
    from curation.text import run_labels

    from tests.conftest import shared_path

    src = shared_path("data", "iu_cxr_reports", "indiana_reports_first926.csv")
    out = tmp_path / "labels.csv"
    summary = run_labels(src, ["findings", "impression"], out, id_column="uid")
    rows = list(csv.DictReader(open(out, newline="", encoding="utf-8")))
    assert summary["rows"] == len(rows) == 926
    assert summary["empty"] == 4  # both findings and impression empty (SOURCES.md)
    assert rows[0]["uid"] == "1" and rows[0]["No Finding"] == "1" and rows[0]["Effusion"] == "0"
    assert Path(out).stat().st_size > 0

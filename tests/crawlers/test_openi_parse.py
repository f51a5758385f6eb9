"""Open-i parsing on recorded search responses (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawlers import licences, openi

FIX = Path(__file__).parent / "fixtures" / "openi"


def load(name: str) -> bytes:
    return (FIX / name).read_bytes()


def test_cxr_records_become_report_items_with_licence_and_mesh():
    items, total = openi.parse_search(load("search_cxr_m1.json"), base_url="http://mirror.test", coll="cxr",
                                      retrieved_at="2026-01-01T00:00:00+00:00")
    assert total == 3
    assert [it.source_id for it in items] == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]
    it = items[0]
    assert it.status == "ok" and it.source == "openi"
    assert it.text_kind == "report"
    assert it.text.splitlines() == [
        "Comparison: None.",
        "Indication: Positive TB test",
        "Findings: The cardiac silhouette and mediastinum size are within normal limits. There is no pulmonary "
        "edema. There is no focal consolidation. There are no XXXX of a pleural effusion. There is no evidence of "
        "pneumothorax.",
        "Impression: Normal chest x-XXXX.",
    ]
    assert it.license == "CC-BY-NC-ND-4.0"
    assert it.license_url == "http://creativecommons.org/licenses/by-nc-nd/4.0/"
    assert it.attribution.startswith("Kohli MD, Rosenman M. Indiana University Chest X-ray Collection")
    assert it.study_id == "CXR1" and it.body_part == "chest"
    assert it.meta["file_url"] == "http://mirror.test/imgs/512/1/1/CXR1_1_IM-0001-3001.png"
    assert it.meta["mesh_major"] == ["normal"] and it.meta["problems"] == ["normal"]
    assert it.meta["sections"]["impression"] == "Normal chest x-XXXX."
    assert it.source_url == "http://mirror.test/retrieve.php?img=CXR1_1_IM-0001-3001&query=&coll=cxr&req=4"
    assert it.retrieved_at == "2026-01-01T00:00:00+00:00"


def test_problems_and_minor_mesh_are_split():
    items, _ = openi.parse_search(load("search_cxr_m3.json"))
    assert items[0].meta["problems"] == ["Cardiomegaly", "Pulmonary Atelectasis"]
    assert items[0].meta["mesh_minor"] == ["Pulmonary Atelectasis/base/left"]


def test_indiana_mesh_coding_gives_dataset_labels():
    (it,) = openi.parse_search(load("search_cxr_m3.json"))[0]
    assert it.label_source == "dataset"
    assert it.labels["Cardiomegaly"] == "positive" and it.labels["No Finding"] == "negative"
    assert it.labels["Atelectasis"] == "negative"        # only the major headings are the coding
    normal = openi.parse_search(load("search_cxr_m1.json"))[0][0]
    assert normal.labels["No Finding"] == "positive" and normal.labels["Cardiomegaly"] == "negative"
    pmc_fig = openi.parse_search(load("search_pmc_m1.json"), coll="pmc")[0][0]
    assert pmc_fig.labels == {} and pmc_fig.label_source is None


def test_pmc_figure_is_a_caption_with_html_removed():
    items, _ = openi.parse_search(load("search_pmc_m1.json"), coll="pmc")
    it = items[0]
    assert it.text_kind == "caption"
    assert it.text == "CRP in relation to outcome of chest X-ray..."
    assert it.license == "CC-BY-NC-3.0" and it.meta["pmid"] == "26849394"


def test_medpix_record_without_licence_gets_the_collection_terms():
    items, _ = openi.parse_search(load("search_mpx_m1.json"), coll="mpx")
    it = items[0]
    assert it.source_id == "MPX1009_synpic46283"
    assert (it.license, it.license_url) == openi.COLLECTION_LICENCE["mpx"]
    assert it.meta["abstract"].startswith("History: Cough and fever")


def test_record_without_any_licence_is_skipped_not_dropped():
    data = json.loads(load("search_pmc_m1.json"))
    for k in ("ccLicense", "licenseURL", "licenseType"):
        data["list"][0].pop(k)
    items, _ = openi.parse_search(json.dumps(data).encode(), coll="pmc")
    assert items[0].status == "skipped" and "licence" in items[0].error


def test_licence_filter_marks_items_skipped():
    items, _ = openi.parse_search(load("search_cxr_m1.json"))
    kept = openi.keep(items, licences.parse_filter("CC-BY,CC0"))
    assert {it.status for it in kept} == {"skipped"}
    kept = openi.keep(openi.parse_search(load("search_cxr_m1.json"))[0], licences.parse_filter("CC-BY-NC-ND"))
    assert {it.status for it in kept} == {"ok"}


@pytest.mark.parametrize("body", [b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", b'{"list": 3}', b""])
def test_non_openi_bodies_raise_a_format_error(body):
    with pytest.raises(openi.OpeniFormatError):
        openi.parse_search(body)


def test_paging_ranges_are_inclusive_and_stop_at_total_or_limit():
    assert openi.next_range(1, 100, 250, wanted=None) == (101, 200)
    assert openi.next_range(101, 200, 250, wanted=None) == (201, 250)
    assert openi.next_range(201, 250, 250, wanted=None) is None
    assert openi.next_range(1, 2, 3, wanted=None) == (3, 3)
    assert openi.next_range(1, 100, 7470, wanted=150) == (101, 150)
    assert openi.next_range(1, 100, 7470, wanted=100) is None
    url = openi.search_url("http://h", query="pleural effusion", coll="cxr", m=1, n=100)
    assert url == "http://h/api/search?query=pleural+effusion&m=1&n=100&coll=cxr"
    url = openi.search_url("http://h", query="x", coll="pmc", m=101, n=200, image_type="xg")
    assert url == "http://h/api/search?query=x&m=101&n=200&coll=pmc&it=xg"


def test_spider_items_count_against_limit_only_when_a_file_is_fetched():
    from crawlers.webitems import to_item

    spider = openi.Spider(limit=1, base_url="http://m.test")
    ok, second = openi.parse_search(load("search_cxr_m1.json"), base_url="http://m.test")[0]
    skipped = openi.keep(openi.parse_search(load("search_cxr_m3.json"))[0], licences.parse_filter("CC0"))[0]
    item = to_item(spider, ok, path="cxr/a.png")
    assert item["source_id"] == "CXR1_1_IM-0001-3001"
    (dl,) = item["downloads"]
    assert dl == {"url": "http://m.test/imgs/512/1/1/CXR1_1_IM-0001-3001.png", "path": "cxr/a.png", "checksum": None,
                  "size": None, "expect": "image", "role": "file"}
    assert item["fields"]["license"] == "CC-BY-NC-ND-4.0" and "source" not in item["fields"]
    assert "retrieved_at" not in item["fields"]          # the pipeline stamps the time of the download
    rec = to_item(spider, skipped, path="cxr/c.png")      # not ok: written as is, no download, no limit used
    assert rec["downloads"] == [] and rec["fields"]["status"] == "skipped"
    assert to_item(spider, second, path="cxr/b.png") is None   # limit reached

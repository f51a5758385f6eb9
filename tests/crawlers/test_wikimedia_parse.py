"""MediaWiki Action API parsing on recorded-shape responses (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawlers import licences, wikimedia

FIX = Path(__file__).parent / "fixtures" / "wikimedia"


def load(name: str) -> bytes:
    return (FIX / name).read_bytes()


def test_category_listing_gives_titles_and_continue():
    titles, cont = wikimedia.parse_listing(load("categorymembers_1.json"))
    assert titles == ["File:Chest X-ray PA normal.png", "File:Hand radiograph old scan.jpg",
                      "File:Pneumothorax radiograph.png"]
    assert cont == {"cmcontinue": "file|4c415445524c20434845535420582d5241592e504e47|113300456", "continue": "-||"}
    titles, cont = wikimedia.parse_listing(load("categorymembers_2.json"))
    assert titles == ["File:Lateral chest X-ray.png"] and cont is None


def test_search_listing():
    titles, cont = wikimedia.parse_listing(load("search_1.json"))
    assert titles == ["File:Pneumothorax radiograph.png", "File:Chest X-ray PA normal.png"]
    assert cont == {"sroffset": 2, "continue": "-||"}


def test_imageinfo_gives_licence_attribution_description_and_sha1():
    items = wikimedia.parse_imageinfo(load("imageinfo_1.json"), base_url="http://127.0.0.1:9",
                                      retrieved_at="2026-01-01T00:00:00+00:00")
    by_id = {it.source_id: it for it in items}
    a = by_id["Chest X-ray PA normal.png"]
    assert a.status == "ok"
    assert a.license == "CC-BY-SA-4.0" and a.license_url == "https://creativecommons.org/licenses/by-sa/4.0"
    assert a.attribution == "Example Radiologist; Own work"
    assert a.text == "Normal posteroanterior chest radiograph of an adult. No acute cardiopulmonary abnormality."
    assert a.text_kind == "description"
    assert a.meta["sha1"] == "fe6450a2e61390dd70df7212ab4dcdc27de52a5b" and a.meta["size"] == 282
    assert a.meta["file_url"] == "http://127.0.0.1:9/wikipedia/commons/8/8e/Chest_X-ray_PA_normal.png"
    assert a.meta["original_url"].startswith("https://upload.wikimedia.org/wikipedia/commons/8/8e/")
    assert a.meta["attribution_required"] is True
    assert a.source_url == "https://commons.wikimedia.org/wiki/File:Chest_X-ray_PA_normal.png"
    pd = by_id["Pneumothorax radiograph.png"]
    assert pd.license == "PD" and pd.status == "ok"
    assert pd.text.startswith("Right-sided pneumothorax: the visceral")   # <b> removed without a stray space
    gfdl = by_id["Hand radiograph old scan.jpg"]
    assert gfdl.status == "skipped" and "GFDL" in gfdl.error


def test_licence_filter_and_versioned_cc0():
    (it,) = wikimedia.parse_imageinfo(load("imageinfo_2.json"))
    assert it.license == "CC0-1.0"
    (it,) = wikimedia.parse_imageinfo(load("imageinfo_2.json"), families=licences.parse_filter("CC-BY"))
    assert it.status == "skipped"


def test_formatversion_1_pages_dict_and_missing_file():
    data = json.loads(load("imageinfo_2.json"))
    page = data["query"]["pages"][0]
    data["query"]["pages"] = {str(page["pageid"]): page, "-1": {"ns": 6, "title": "File:Gone.png", "missing": ""}}
    items = wikimedia.parse_imageinfo(json.dumps(data).encode())
    assert [(it.source_id, it.status) for it in items] == [("Lateral chest X-ray.png", "ok"), ("Gone.png", "error")]


def test_maxlag_error_asks_to_retry_after():
    with pytest.raises(wikimedia.Maxlag) as exc:
        wikimedia.parse_listing(load("maxlag.json"), retry_after="5")
    assert exc.value.retry_after == 5.0
    with pytest.raises(wikimedia.Maxlag) as exc:       # no header: the reported lag
        wikimedia.parse_imageinfo(load("maxlag.json"))
    assert exc.value.retry_after == pytest.approx(6.25)


def test_other_api_errors_and_html_bodies():
    with pytest.raises(wikimedia.ApiError, match="badvalue"):
        wikimedia.parse_listing(b'{"error": {"code": "badvalue", "info": "Unrecognized value"}}')
    with pytest.raises(wikimedia.ApiError, match="not a MediaWiki API JSON"):
        wikimedia.parse_listing(b"<html><body>Wikimedia Error</body></html>")


def test_request_urls_carry_maxlag_and_the_query_kind():
    url = wikimedia.api_url("http://h", wikimedia.listing_params("Category:Chest X-rays"))
    assert "maxlag=5" in url and "list=categorymembers" in url and "cmtype=file" in url
    assert "cmtitle=Category%3AChest+X-rays" in url
    url = wikimedia.api_url("http://h", wikimedia.listing_params("pneumothorax"))
    assert "list=search" in url and "srnamespace=6" in url
    url = wikimedia.api_url("http://h", wikimedia.imageinfo_params(["File:A.png", "File:B.png"]))
    assert "iiprop=url%7Csize%7Cmime%7Csha1%7Cextmetadata" in url and "titles=File%3AA.png%7CFile%3AB.png" in url


def test_non_raster_and_oversized_files_are_skipped():
    data = json.loads(load("imageinfo_2.json"))
    data["query"]["pages"][0]["imageinfo"][0]["mime"] = "image/svg+xml"
    (it,) = wikimedia.parse_imageinfo(json.dumps(data).encode())
    assert it.status == "skipped" and "raster" in it.error
    (it,) = wikimedia.parse_imageinfo(load("imageinfo_2.json"), max_bytes=100)
    assert it.status == "skipped" and "279 bytes" in it.error
    (it,) = wikimedia.parse_imageinfo(load("imageinfo_2.json"), max_bytes=279)
    assert it.status == "ok"

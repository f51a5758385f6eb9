"""MedPix parsing on pages rendered by headless Chromium (recorded; no browser needed here)."""

from __future__ import annotations

from pathlib import Path

from crawlers import medpix

FIX = Path(__file__).parent / "fixtures" / "medpix"


def test_search_page_lists_case_urls():
    urls = medpix.parse_search((FIX / "search_rendered.html").read_bytes(), "http://m.test/search?query=x")
    assert urls == [
        "http://m.test/case?id=6e9ef54b-1c4e-4d3e-8f0f-2a6f3d9b1009",
        "http://m.test/case?id=b3a1c0de-7f22-4a55-9d10-5c3e8e7a2041",
        "http://m.test/case?id=00000000-dead-4bad-8bad-000000000404",
    ]


def test_case_page_gives_one_item_per_image():
    url = "http://m.test/case?id=6e9ef54b-1c4e-4d3e-8f0f-2a6f3d9b1009"
    items = medpix.parse_case((FIX / "case_rendered.html").read_bytes(), url)
    assert [it.source_id for it in items] == ["synpic46283", "synpic46284"]
    a = items[0]
    assert a.status == "ok" and a.study_id == "6e9ef54b-1c4e-4d3e-8f0f-2a6f3d9b1009"
    assert a.text.splitlines() == [
        "History: Cough and fever for three days.",
        "Exam: Temperature 38.9 C; crackles over the right mid chest.",
        "Findings: Airspace opacity in the right middle lobe obscuring the right heart border (silhouette sign).",
        "Diagnosis: Right middle lobe pneumonia",
        "Caption: PA chest radiograph: right middle lobe consolidation with silhouette sign.",
    ]
    assert a.text_kind == "report"
    assert a.meta["caption"] == "PA chest radiograph: right middle lobe consolidation with silhouette sign."
    assert a.meta["plane"] == "PA" and a.meta["modality_name"] == "XR - Plain Film" and a.modality == "DX"
    assert a.meta["differential"] == "Pneumonia Atelectasis Aspiration"
    # the fields the MedPix 2.0 release shows a case holds, named as the medpix2 importer names them
    assert a.meta["diagnosis_by"] == "Clinical and radiographic findings"
    assert (a.meta["topic_title"], a.meta["topic_acr_code"], a.meta["category"]) == ("Pneumonia, lobar", "6.2", "Infection")
    assert a.meta["disease_discussion"].startswith("Lobar pneumonia fills the alveoli")
    assert a.meta["acr"] == {"code": "6.2", "anatomy": "6", "pathology": "2"} and a.body_part == "Chest, Pulmonary"
    assert a.meta["location_category"] == "Thorax" and "figure_part" not in a.meta
    assert items[1].meta["figure_part"] == "2" and items[1].view == "LATERAL"
    assert a.meta["file_url"] == "http://m.test/images/full/synpic46283.jpg"
    assert a.license == "MedPix-terms" and a.license_url == "http://m.test/legal"
    assert a.attribution.startswith("Example Contributor, MD; MedPix")


def test_unrendered_shell_is_a_recorded_error():
    url = "http://m.test/case?id=abc"
    (it,) = medpix.parse_case((FIX / "case.html").read_bytes(), url)
    assert it.status == "error" and it.source_id == "case-abc" and "did not render" in it.error
    body = b'<html><body><main id="app"><p class="error">This case could not be loaded (HTTP 404).</p></main></body></html>'
    (it,) = medpix.parse_case(body, url)
    assert it.error == "This case could not be loaded (HTTP 404)."


def test_cc_licence_link_is_normalised():
    html = (FIX / "case_rendered.html").read_text().replace(
        'href="/legal">MedPix terms of use', 'href="https://creativecommons.org/licenses/by-nc-sa/4.0/">CC BY-NC-SA 4.0')
    items = medpix.parse_case(html, "http://m.test/case?id=x")
    assert items[0].license == "CC-BY-NC-SA-4.0"


def test_missing_chromium_is_a_usage_error_before_any_work(tmp_path, monkeypatch):
    import pytest

    from crawlers.engine import crawl
    from manifests.errors import UsageError

    monkeypatch.setenv("MEDHARVEST_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(UsageError, match="apt-get install -y chromium chromium-driver"):
        crawl("medpix", tmp_path, base_url="http://127.0.0.1:9")
    assert not (tmp_path / "raw" / "medpix" / "items.jsonl").exists()


def test_sections_are_found_by_heading_when_the_markup_differs():
    body = b"""<html><body><main id="app"><article id="case" data-case-id="c9">
      <h1 class="case-title">Pneumoperitoneum</h1>
      <div><h3>History</h3><p>Abdominal pain.</p><h3>Findings</h3><p>Free air under the right hemidiaphragm.</p>
      <p>No bowel obstruction.</p><h3>Case Diagnosis</h3><p>Perforated viscus</p></div>
      <figure class="case-image" data-image-id="synpic9"><img src="/images/full/synpic9.jpg"></figure>
    </article></main></body></html>"""
    (it,) = medpix.parse_case(body, "http://m.test/case?id=c9")
    assert it.text.splitlines() == ["History: Abdominal pain.",
                                    "Findings: Free air under the right hemidiaphragm. No bowel obstruction.",
                                    "Diagnosis: Perforated viscus"]
    assert it.meta["file_url"] == "http://m.test/images/full/synpic9.jpg" and it.source_id == "synpic9"


def test_site_and_release_write_the_same_fields():
    """The crawler's meta keys for a case are the medpix2 importer's (crawlers.medpix_case)."""
    from crawlers.medpix_case import CASE_KEYS, IMAGE_KEYS, TOPIC_KEYS

    items = medpix.parse_case((FIX / "case_rendered.html").read_bytes(), "http://m.test/case?id=x")
    text_keys = {"history", "exam", "findings"}
    expected = (set(CASE_KEYS.values()) | set(TOPIC_KEYS.values()) | set(IMAGE_KEYS.values())) - text_keys
    have = set(items[0].meta) | set(items[1].meta)
    assert expected - have == {"treatment", "discussion"}   # the stand-in case has neither

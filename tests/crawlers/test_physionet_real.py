"""PhysioNet on real recorded files (../shared/fixtures/sources/physionet): SHA256SUMS.txt of mitdb 1.0.0
(the official zip) and of PhysioNet's demo projects, RECORDS/ANNOTATORS checked against them, the nginx
autoindex of mimiciii 1.4 (the whole --option browse crawl on it is in test_physionet.py)."""

from __future__ import annotations

import hashlib

import pytest

from crawlers import physionet
from tests.crawlers.realfix import real, real_bytes

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("name, n, first", [
    ("real_mitdb_1.0.0_SHA256SUMS.txt", 276, "231.atr"),
    ("real_physionet-build_demoecg_10.5.24_SHA256SUMS.txt", 265, "app/plotstm.c"),
    ("real_physionet-build_demoeicu_2.0.0_SHA256SUMS.txt", 7, "admissions.csv"),
    ("demoeicu_2.0.0_SHA256SUMS.txt", 7, "admissions.csv"),
])
def test_real_sha256sums_every_line(name, n, first):
    body = real_bytes("physionet", name)
    sums = physionet.parse_sha256sums(body)
    assert len(body.decode().splitlines()) == n == len(sums)          # nothing dropped, nothing doubled
    assert next(iter(sums)) == first and all(len(v) == 64 and v == v.lower() for v in sums.values())


def test_real_records_files_match_their_checksums():
    sums = physionet.parse_sha256sums(real_bytes("physionet", "real_mitdb_1.0.0_SHA256SUMS.txt"))
    assert sum(1 for p in sums if p.startswith("x_mitdb/")) > 0          # sub-folder entries, unsorted
    for name, rel in (("real_mitdb_1.0.0_RECORDS", "RECORDS"), ("real_mitdb_1.0.0_x_mitdb_RECORDS", "x_mitdb/RECORDS"),
                      ("real_mitdb_1.0.0_ANNOTATORS", "ANNOTATORS")):
        assert sums[rel] == hashlib.sha256(real_bytes("physionet", name)).hexdigest(), rel
    records = real("physionet", "real_mitdb_1.0.0_RECORDS").read_text().split()
    assert len(records) == 48 and records[0] == "100"
    assert all(f"{r}.hea" in sums and f"{r}.dat" in sums and f"{r}.atr" in sums for r in records)
    demo = real("physionet", "real_physionet-build_demowave_1.0.0_RECORDS").read_text().split()
    assert demo == ["wave_1", "wave_2", "wave_3", "wave_4.edf"]


def test_real_autoindex_every_entry():
    body = real_bytes("physionet", "real_mimiciii_1.4_nginx_autoindex_index.html")
    entries = physionet.parse_autoindex(body)
    assert len(entries) == 29 and not any(e.is_dir for e in entries)
    assert {e.name for e in entries} >= {"ADMISSIONS.csv.gz", "LICENSE.txt", "SHA256SUMS.txt", "CHARTEVENTS.csv.gz"}
    assert all(e.modified and e.size is not None for e in entries)
    assert body.count(b'<a href="') == 30                              # the 29 files + "../"

"""Hostile local files for the importers: XML entity bombs and external entities in IU X-ray reports."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from crawlers import importers
from manifests.raw import RawStore

REPORT = """<?xml version="1.0" encoding="utf-8"?>
{doctype}<eCitation>
  <uId id="CXR{uid}"/>
  <MedlineCitation><Article><Abstract>
    <AbstractText Label="FINDINGS">The lungs are clear. {body}</AbstractText>
    <AbstractText Label="IMPRESSION">Normal chest.</AbstractText>
  </Abstract></Article></MedlineCitation>
  <MeSH><major>normal</major></MeSH>
  <parentImage id="CXR{uid}_1_IM-0001-1001"><figureId>F1</figureId></parentImage>
</eCitation>
"""

LAUGHS = "<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n" + "".join(
    f" <!ENTITY lol{i} \"{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}\">\n" for i in range(1, 10)) + "]>\n"
XXE = '<!DOCTYPE r [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'


def test_billion_laughs_and_xxe_reports_are_per_item_errors(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "1.xml").write_text(REPORT.format(doctype="", uid=1, body=""))
    (root / "2.xml").write_text(REPORT.format(doctype=LAUGHS, uid=2, body="&lol9;"))
    (root / "3.xml").write_text(REPORT.format(doctype=XXE, uid=3, body="&xxe;"))
    assert len(LAUGHS) > 512                       # the eCitation tag is past the first 512 bytes
    for uid in (1, 2, 3):
        p = root / f"CXR{uid}_1_IM-0001-1001.png"
        Image.new("L", (8, 8), 90).save(p)
    summary = importers.run("iu-xray", root, tmp_path / "out")
    items = RawStore(tmp_path / "out", "iu-xray").latest()
    assert items["CXR1_IM-0001-1001"].status == "ok"
    for stem in ("2", "3"):
        it = items.get(f"CXR{stem}") or items.get(stem)
        assert it is not None, sorted(items)
        assert it.status == "error" and "entit" in it.error.lower() and f"{stem}.xml" in it.error, it.error
    assert summary["status"] == {"ok": 1, "error": 2}
    text = Path(tmp_path / "out" / "raw" / "iu-xray" / "items.jsonl").read_text()
    assert "root:x:" not in text and "lollollol" not in text

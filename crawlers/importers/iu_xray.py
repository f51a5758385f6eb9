"""Indiana University Chest X-ray Collection (IU X-ray, Open-i), imported from a local copy.

What: 3,955 de-identified radiology reports (indication, comparison, findings, impression; removed
identifiers appear as ``XXXX``) with 7,470 frontal and lateral images, and a manual MeSH coding of
each report. No patient ids are published: each report is one study, treated as its own patient.

Two layouts are read (anything under ROOT):

* the Open-i XML reports (``NLMCXR_reports``: ``ecgen-radiology/<n>.xml``, root ``eCitation``),
  parsed with defusedxml; images named by ``parentImage/@id`` (``CXR1_1_IM-0001-3001.png`` in
  ``NLMCXR_png``); an ``indiana_projections*.csv`` beside them adds the view;
* the CSV form (``indiana_reports*.csv`` + ``indiana_projections*.csv``, e.g. the Kaggle copy,
  file-name suffixes such as ``_first926`` accepted); images ``images_normalized/<filename>``.

When both are present the XML form is used. Items: one per image; source_id = ``CXR<uid>_IM-xxxx-xxxx``
(the same in both layouts, see :func:`image_key`; the layout's own name is kept in ``meta.image_name``); study_id = patient_id = ``CXR<uid>``; text =
the report's sections as ``INDICATION: ... COMPARISON: ... FINDINGS: ... IMPRESSION: ...``;
view ``FRONTAL`` / ``LATERAL`` from the projections file; a report that lists no image is an item
with status ``skipped``.

Labels (``label_source="dataset"``) come from the manual MeSH coding: the headings in
:data:`~manifests.labels.MESH_TO_NIH` are positive, the other NIH findings negative, ``normal`` -> ``No Finding``
positive; ``No Indexing`` -> no labels. This agrees with NegBio's ``openi_gld_std14`` gold
standard except that ``Hernia, Hiatal`` is mapped to Hernia (the gold standard never sets Hernia).
MeSH qualifiers (``Cardiomegaly/borderline``) are kept in ``meta.mesh``.

Licence / terms: CC BY-NC-ND 4.0 (attribution, non-commercial, no derivatives: do not ship
modified copies). https://creativecommons.org/licenses/by-nc-nd/4.0/ ; collection: https://openi.nlm.nih.gov/

Citation: Demner-Fushman D, Kohli MD, Rosenman MB, et al. Preparing a collection of radiology
examinations for distribution and retrieval. JAMIA 2016;23(2):304-310.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from crawlers.importers.base import FileIndex, iter_rows, read_header, require_columns
from manifests.errors import UsageError
from manifests.labels import MESH_TO_NIH, NIH14, NO_FINDING
from manifests.raw import RawItem

SOURCE = "iu-xray"
LICENSE = "CC-BY-NC-ND-4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by-nc-nd/4.0/"
SOURCE_URL = "https://openi.nlm.nih.gov/"
ATTRIBUTION = ("Indiana University Chest X-ray Collection (Open-i, NLM); Demner-Fushman D. et al., "
               "JAMIA 2016;23(2):304-310")
SECTIONS = ("INDICATION", "COMPARISON", "FINDINGS", "IMPRESSION")


@dataclasses.dataclass
class Plan:
    root: Path
    form: str                       # "xml" | "csv"
    xmls: list[Path]
    reports_csv: Path | None
    projections_csv: Path | None
    images: FileIndex
    stats: dict = dataclasses.field(default_factory=dict)
    total: int | None = None


def check(root: Path) -> Plan:
    index = FileIndex(root)
    xmls = [p for p in index.matching(r".*\.xml") if _is_ecitation(p)]
    reports = next(iter(index.matching(r"indiana_reports.*\.csv")), None)
    projections = next(iter(index.matching(r"indiana_projections.*\.csv")), None)
    if not xmls and reports is None:
        raise UsageError(f"no Open-i report XML (eCitation) and no indiana_reports*.csv under '{root}'")
    if not xmls:
        if projections is None:
            raise UsageError(f"'{reports.name}' needs indiana_projections*.csv beside it (it names the images)")
        require_columns(reports, [c.strip() for c in read_header(reports)], ("uid", "MeSH", "findings", "impression"))
    if projections is not None:
        require_columns(projections, [c.strip() for c in read_header(projections)], ("uid", "filename", "projection"))
    form = "xml" if xmls else "csv"
    return Plan(root, form, xmls, reports, projections, index,
                stats={"form": form, "reports_file": reports.name if reports and form == "csv" else None,
                       "projections_file": projections.name if projections else None, "xml_files": len(xmls)})


#: How far into an XML file its root tag is looked for: a DOCTYPE (entity declarations: a billion-laughs
#: bomb) can push ``<eCitation`` past the first 512 bytes; such a file must become an error item, not vanish.
ECITATION_PROBE = 1 << 16


def _is_ecitation(path: Path) -> bool:
    with open(path, "rb") as fh:
        return b"<eCitation" in fh.read(ECITATION_PROBE)


def mesh_labels(mesh: str) -> dict[str, str]:
    """The ``MeSH`` cell (``;``-separated, ``/qualifiers``) -> {NIH finding: state}."""
    heads = [t.split("/")[0].strip().lower() for t in mesh.split(";") if t.strip()]
    if not heads or heads == ["no indexing"]:
        return {}
    out = {f: "negative" for f in NIH14}
    for h in heads:
        if h in MESH_TO_NIH:
            out[MESH_TO_NIH[h]] = "positive"
    out[NO_FINDING] = "positive" if heads == ["normal"] else "negative"
    return out


def _text(sections: dict[str, str]) -> str | None:
    parts = [f"{s}: {sections[s].strip()}" for s in SECTIONS if (sections.get(s) or "").strip()]
    return "\n".join(parts) + "\n" if parts else None


_IM = re.compile(r"IM-\d+(?:-\d+)*", re.I)


def image_key(uid: str, name: str) -> str:
    """One id per image in both layouts: ``CXR<uid>_IM-xxxx-xxxx``.

    The XML names images ``CXR2_IM-0652-1001`` (sometimes ``CXR1_1_IM-0001-3001``), the CSV
    ``2_IM-0652-1001.dcm.png``; the ``IM-`` part is what they share.
    """
    m = _IM.search(name)
    if m:
        return f"CXR{uid}_{m.group(0)}"
    return re.sub(r"(\.dcm)?\.(png|jpe?g)$", "", name, flags=re.I)


def _projections(plan: Plan) -> tuple[dict[str, dict[str, tuple[str | None, str]]], list[str]]:
    """uid -> {image key: (view, file name)}, and error strings of bad lines."""
    out: dict[str, dict[str, tuple[str | None, str]]] = {}
    errors: list[str] = []
    if plan.projections_csv is None:
        return out, errors
    cols = [c.strip() for c in read_header(plan.projections_csv)]
    for _lineno, row, err, _ in iter_rows(plan.projections_csv, cols, trailing_comma_ok=False):
        if row is None:
            errors.append(err)
            continue
        uid, name = row["uid"].strip(), row["filename"].strip()
        out.setdefault(uid, {})[image_key(uid, name)] = (row["projection"].strip().upper() or None, name)
    return out, errors


def _image(plan: Plan, key: str, *names: str) -> Path | None:
    uid_im = key.removeprefix("CXR")
    candidates = [n for name in names if name for n in (name, f"{name}.png", f"{name}.jpg")]
    return plan.images.get(*candidates, f"{key}.png", f"{key}.jpg", f"{uid_im}.dcm.png", f"{uid_im}.png", f"{uid_im}.jpg")


def _reports(plan: Plan) -> Iterator[tuple[str, dict | None, str | None]]:
    """(uid, {"sections", "mesh", "images": [ids] | None, "file"}, error) per report."""
    if plan.form == "xml":
        from defusedxml import ElementTree
        from defusedxml.common import DefusedXmlException

        for path in plan.xmls:
            try:
                root = ElementTree.parse(path).getroot()
            except DefusedXmlException as err:   # entity bombs (billion laughs), external entities (XXE)
                yield path.stem, None, (f"{path.name}: refused: the XML declares entities ({type(err).__name__}: "
                                        f"{err}); reports never need them (entity-expansion / external-entity attack?)")
                continue
            except (ElementTree.ParseError, OSError) as err:
                yield path.stem, None, f"{path.name}: unreadable XML ({err})"
                continue
            uid_el = root.find("uId")
            uid = (uid_el.get("id", "") if uid_el is not None else "").removeprefix("CXR") or path.stem
            sections = {el.get("Label", "").upper(): (el.text or "") for el in root.iter("AbstractText")}
            mesh = ";".join((el.text or "").strip() for el in root.findall("MeSH/major"))
            auto = ";".join((el.text or "").strip() for el in root.findall("MeSH/automatic"))
            images = [el.get("id") for el in root.findall("parentImage") if el.get("id")]
            yield uid, {"sections": sections, "mesh": mesh, "mesh_automatic": auto or None,
                        "images": images, "file": path.name}, None
        return
    cols = [c.strip() for c in read_header(plan.reports_csv)]
    for lineno, row, err, fields in iter_rows(plan.reports_csv, cols, trailing_comma_ok=False):
        if row is None:
            yield (fields[0].strip() if fields else f"line{lineno}"), None, err
            continue
        sections = {s: row.get(s.lower(), "") for s in SECTIONS}
        yield row["uid"].strip(), {"sections": sections, "mesh": row["MeSH"], "mesh_automatic": None,
                                   "images": None, "file": plan.reports_csv.name,
                                   "image_title": row.get("image")}, None


def iter_items(plan: Plan) -> Iterator[RawItem]:
    projections, proj_errors = _projections(plan)
    plan.stats["projection_errors"] = {"count": len(proj_errors), "first": proj_errors[:5]}
    for uid, rep, err in _reports(plan):
        study = f"CXR{uid}"
        if rep is None:
            yield _item(study, status="error", error=err)
            continue
        views = projections.get(uid, {})
        if rep["images"] is not None:       # XML: the report's own image list
            images = [(image_key(uid, literal), literal) for literal in rep["images"]]
        else:
            images = [(key, name) for key, (_, name) in views.items()]
        text = _text(rep["sections"])
        labels = mesh_labels(rep["mesh"])
        meta = {"uid": uid, "mesh": rep["mesh"], "mesh_automatic": rep["mesh_automatic"], "report_file": rep["file"]}
        if not images:
            yield _item(study, patient_id=study, study_id=study, text=text, text_kind="report" if text else None,
                        labels=labels, label_source="dataset" if labels else None, meta=meta,
                        status="skipped", error="the report lists no image")
            continue
        for key, name in images:
            view, csv_name = views.get(key, (None, None))
            path = _image(plan, key, name, csv_name)
            yield _item(
                key, file=str(path) if path else None, patient_id=study, study_id=study,
                view=view, text=text, text_kind="report" if text else None,
                labels=labels, label_source="dataset" if labels else None,
                meta={**meta, "image_name": name},
                status="ok" if path else "error",
                error=None if path else f"image file for {name} not found under {plan.root}",
            )


def _item(source_id: str, **kw) -> RawItem:
    return RawItem(source=SOURCE, source_id=source_id, license=LICENSE, license_url=LICENSE_URL,
                   attribution=ATTRIBUTION, source_url=SOURCE_URL, modality="DX", body_part="chest", **kw)

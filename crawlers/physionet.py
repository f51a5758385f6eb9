"""PhysioNet MIMIC-CXR 2.0.0 (DICOM + reports) and MIMIC-CXR-JPG 2.1.0: credentialed access; PhysioNet Credentialed Health Data License 1.5.0; HTTP Basic auth with a signed data use agreement.

What it is: 377,110 chest radiographs of 227,835 studies (65,379 patients, Beth Israel Deaconess,
2011-2016) with free-text radiology reports (MIMIC-CXR), and the same images as JPEG with CheXpert /
NegBio labels, metadata and the official split (MIMIC-CXR-JPG).

Access terms: credentialed PhysioNet account, completed CITI training, signed data use agreement
for *each* project. Licence: PhysioNet Credentialed Health Data License 1.5.0
(https://physionet.org/content/mimic-cxr/view-license/2.0.0/): no redistribution, no attempt to
re-identify. Reports are paired from MIMIC-CXR 2.0.0 (``files/pXX/pNNNNNNNN/sNNNNNNNN.txt``).

Auth: HTTP Basic from ``PHYSIONET_USERNAME``/``PHYSIONET_PASSWORD`` or the ``physionet.org`` entry
of ``~/.netrc``. The server honours Basic auth only for a ``Wget/…`` User-Agent (browsers get a
login page), so this source identifies as ``Wget/1.21.4`` with medharvest in the comment. 401 =
credentials rejected or not sent; 403 = the account has not signed this project's DUA.

Crawl: driven by ``cxr-record-list.csv.gz`` / ``cxr-study-list.csv.gz`` (never a breadth-first walk
of 500,000 listings); every file is verified against the project's ``SHA256SUMS.txt``. nginx
autoindex listings (CRLF) can be parsed with :func:`parse_autoindex` for browsing. robots.txt is not
consulted: these are authenticated dataset downloads, not crawling of public pages. Rate: 2 req/s,
4 connections (PhysioNet asks heavy users to be gentle).

Options (``--option key=value`` / config): ``project`` = ``mimic-cxr-jpg`` (default) | ``mimic-cxr``;
``browse=<dir>`` lists one directory of the project (nginx autoindex) into ``listing.json`` instead of
downloading. ``--query`` filters record paths by prefix (e.g. ``files/p10/``).

Citation: Johnson AEW, Pollard TJ, Berkowitz SJ, et al. MIMIC-CXR, a de-identified publicly available
database of chest radiographs with free-text reports. Sci Data 6, 317 (2019); Johnson AEW et al.
MIMIC-CXR-JPG (version 2.1.0). PhysioNet (2024). Goldberger AL et al. PhysioBank, PhysioToolkit,
and PhysioNet. Circulation 101(23):e215-e220 (2000).
"""

from __future__ import annotations

import base64
import csv
import gzip
import html
import io
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from manifests.errors import UsageError
from manifests.labels import CHEXPERT14, state_from_numeric

from crawlers.engine.credentials import basic_auth, same_origin
from crawlers.engine.spider import SourceSpider

PROJECTS = {"mimic-cxr": "2.0.0", "mimic-cxr-jpg": "2.1.0"}
REPORTS = ("mimic-cxr", "2.0.0")
LICENSE = "PhysioNet Credentialed Health Data License 1.5.0"
LICENSE_URL = "https://physionet.org/content/mimic-cxr/view-license/2.0.0/"
ATTRIBUTION = "Johnson AEW et al., MIMIC-CXR / MIMIC-CXR-JPG, PhysioNet (https://doi.org/10.13026/8360-t248)"
MSG_401 = ("401: credentials rejected or not sent — PhysioNet honours Basic auth only for Wget user agents; "
           "set PHYSIONET_USERNAME/PHYSIONET_PASSWORD or a physionet.org entry in ~/.netrc")
MSG_403 = "403: your account has not signed the data use agreement for this project (sign it on physionet.org)"


def error_hint(status: int, head: bytes) -> str | None:
    return {401: MSG_401, 403: MSG_403}.get(status)


# -- pure parsers -----------------------------------------------------------------------------
def _csv_rows(body: bytes) -> list[dict[str, str]]:
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def parse_record_list(body: bytes) -> list[dict[str, str]]:
    """``cxr-record-list.csv.gz``: subject_id, study_id, dicom_id, path (``files/pXX/…/<dicom>.dcm``)."""
    rows = _csv_rows(body)
    need = {"subject_id", "study_id", "dicom_id", "path"}
    if rows and not need <= set(rows[0]):
        raise ValueError(f"record list lacks columns {sorted(need - set(rows[0]))}")
    return rows


def parse_study_list(body: bytes) -> dict[str, str]:
    """``cxr-study-list.csv.gz``: study_id -> report path (``files/pXX/pNNNNNNNN/sNNNNNNNN.txt``)."""
    return {r["study_id"]: r["path"] for r in _csv_rows(body)}


def parse_sha256sums(body: bytes) -> dict[str, str]:
    """``SHA256SUMS.txt``: ``<hex><space><relative path>`` per line -> {path: hex}."""
    out = {}
    for line in body.decode("utf-8").splitlines():
        digest, _, path = line.strip().partition(" ")
        if len(digest) == 64 and path:
            out[path.lstrip("*").strip()] = digest.lower()
    return out


def parse_labels(body: bytes) -> dict[str, dict[str, str]]:
    """``mimic-cxr-2.0.0-chexpert.csv.gz`` / ``-negbio``: study_id -> {finding: state} (blank kept as not mentioned)."""
    out = {}
    for r in _csv_rows(body):
        out[r["study_id"]] = {f: state_from_numeric(r.get(f)).value for f in CHEXPERT14 if f in r}
    return out


def parse_metadata(body: bytes) -> dict[str, dict[str, str]]:
    """``mimic-cxr-2.0.0-metadata.csv.gz``: dicom_id -> row (ViewPosition, Rows, Columns, StudyDate…)."""
    return {r["dicom_id"]: r for r in _csv_rows(body)}


def parse_split(body: bytes) -> dict[str, str]:
    return {r["dicom_id"]: r["split"] for r in _csv_rows(body)}


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    modified: str | None
    size: int | None


_AUTOINDEX = re.compile(r'<a href="([^"]+)">[^<]*</a>\s+(\d{2}-\w{3}-\d{4} \d{2}:\d{2})\s+(-|\d+)')


def parse_autoindex(body: bytes) -> list[Entry]:
    """An nginx ``autoindex`` page (CRLF lines) -> entries; ``../`` dropped, directories end in ``/``."""
    out = []
    for line in body.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        m = _AUTOINDEX.search(line)
        if not m:
            continue
        href = html.unescape(m.group(1))
        if href in ("../", "./") or href.startswith(("/", "?", "http")):
            continue
        out.append(Entry(href.rstrip("/"), href.endswith("/"), m.group(2), None if m.group(3) == "-" else int(m.group(3))))
    return out


def image_path(record_path: str, project: str) -> str:
    return re.sub(r"\.dcm$", ".jpg", record_path) if project == "mimic-cxr-jpg" else record_path


def report_path(record: dict[str, str]) -> str:
    """``files/p10/p10000032/s50414267/x.dcm`` -> ``files/p10/p10000032/s50414267.txt``."""
    return record["path"].rsplit("/", 1)[0] + ".txt"


# -- spider -----------------------------------------------------------------------------------
class Spider(SourceSpider):
    name = "physionet"
    credentials = ("PHYSIONET_USERNAME", "PHYSIONET_PASSWORD")   # or a physionet.org entry in ~/.netrc
    option_names = ("project", "browse")
    default_base_url = "https://physionet.org/files"
    source_user_agent = "Wget/1.21.4 (medharvest/0.1; +https://github.com/medharvest; mailto:medharvest@example.org)"
    download_rate = 2.0
    download_per_host = 4
    metadata_delay = 0.5
    robots_txt = False
    license, license_url = LICENSE, LICENSE_URL

    @classmethod
    def credentials_present(cls) -> bool:
        return basic_auth("physionet.org", *cls.credentials) is not None

    @staticmethod
    def check_options(options: dict, query: str | None) -> None:
        project = options.get("project", "mimic-cxr-jpg")
        if project not in PROJECTS:
            raise UsageError(f"physionet: unknown project {project!r}; choose from {sorted(PROJECTS)}")

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.project = self.options.get("project", "mimic-cxr-jpg")
        self.version = PROJECTS[self.project]
        self._auth = basic_auth(urlsplit(self.base_url).hostname or "physionet.org", "PHYSIONET_USERNAME", "PHYSIONET_PASSWORD")

    def secret_headers(self, url: str) -> dict[str, str]:
        if not self._auth or not same_origin(url, self.base_url):
            return {}
        return {"Authorization": "Basic " + base64.b64encode(":".join(self._auth).encode()).decode()}

    def downloader_kwargs(self) -> dict:
        return {"auth": self._auth, "credential_origin": self.base_url, "error_hint": error_hint}

    def url(self, project: str, version: str, path: str) -> str:
        return f"{self.base_url}/{project}/{version}/{path}"

    async def fetch(self, url: str, *, optional: bool = False) -> bytes | None:
        import scrapy

        resp = await self.crawler.engine.download_async(scrapy.Request(url, dont_filter=True))
        if resp.status == 200:
            return resp.body
        if resp.status in (401, 403):
            raise self.fatal(f"{error_hint(resp.status, b'')} ({url})")
        if optional and resp.status == 404:
            return None
        raise self.fatal(f"HTTP {resp.status} for {url}")

    async def start(self):
        import scrapy

        if self.options.get("browse") is not None:
            path = str(self.options["browse"]).strip("/")
            yield scrapy.Request(self.url(self.project, self.version, path + "/" if path else ""), callback=self.parse_listing,
                                 dont_filter=True, meta={"handle_httpstatus_list": [401, 403, 404]})
            return
        yield scrapy.Request(self.url(*REPORTS, "cxr-record-list.csv.gz"), callback=self.parse_records,
                             dont_filter=True, meta={"handle_httpstatus_list": [401, 403, 404]})

    def parse_listing(self, response):
        """``browse``: write the directory's entries to ``<store>/listing.json`` (no items)."""
        import dataclasses
        from pathlib import Path

        from manifests.io import write_json_atomic

        if response.status != 200:
            raise self.fatal(error_hint(response.status, b"") or f"HTTP {response.status} for {response.url}")
        entries = [dataclasses.asdict(e) for e in parse_autoindex(response.body)]
        root = Path(self.settings.get("MEDHARVEST_OUT")) / "raw" / self.name
        write_json_atomic(root / "listing.json", {"url": response.url, "entries": entries})
        return []

    async def parse_records(self, response):
        if response.status != 200:
            raise self.fatal(error_hint(response.status, b"") or f"HTTP {response.status} for {response.url}")
        records = [r for r in parse_record_list(response.body) if not self.query or r["path"].startswith(self.query)]
        if self.limit is not None:
            records = records[: self.limit]
        todo = [r for r in records if r["dicom_id"] not in self.done_ids]
        if not todo:
            return
        body = await self.fetch(self.url(*REPORTS, "cxr-study-list.csv.gz"), optional=True)
        self.study_paths = parse_study_list(body) if body else {}
        sums = parse_sha256sums(await self.fetch(self.url(self.project, self.version, "SHA256SUMS.txt")))
        report_sums = sums if self.project == REPORTS[0] else parse_sha256sums(await self.fetch(self.url(*REPORTS, "SHA256SUMS.txt")))
        labels, meta, split = {}, {}, {}
        if self.project == "mimic-cxr-jpg":
            body = await self.fetch(self.url(self.project, self.version, "mimic-cxr-2.0.0-chexpert.csv.gz"), optional=True)
            labels = parse_labels(body) if body else {}
            body = await self.fetch(self.url(self.project, self.version, "mimic-cxr-2.0.0-metadata.csv.gz"), optional=True)
            meta = parse_metadata(body) if body else {}
            body = await self.fetch(self.url(self.project, self.version, "mimic-cxr-2.0.0-split.csv.gz"), optional=True)
            split = parse_split(body) if body else {}
        for rec in todo:
            item = self.build_item(rec, sums, report_sums, labels, meta, split)
            if item is not None:
                yield item

    def build_item(self, rec, sums, report_sums, labels, meta, split) -> dict | None:
        img = image_path(rec["path"], self.project)
        rep = getattr(self, "study_paths", {}).get(rec["study_id"]) or report_path(rec)
        row = meta.get(rec["dicom_id"], {})
        fields = dict(patient_id=rec["subject_id"], study_id=rec["study_id"], modality="CR", body_part="chest",
                      view=row.get("ViewPosition") or None, labels=labels.get(rec["study_id"], {}),
                      label_source="dataset" if rec["study_id"] in labels else None,
                      split=split.get(rec["dicom_id"]), attribution=ATTRIBUTION,
                      source_url=self.url(self.project, self.version, img).replace(self.base_url, self.default_base_url),
                      meta={"project": f"{self.project}/{self.version}"})
        missing = [p for p, s in ((img, sums), (rep, report_sums)) if p not in s]
        if missing:
            return self.item(rec["dicom_id"], status="error", error=f"not listed in SHA256SUMS.txt: {', '.join(missing)}", **fields)
        downloads = [
            {"url": self.url(self.project, self.version, img), "path": f"{self.project}/{self.version}/{img}",
             "checksum": "sha256:" + sums[img], "expect": "image", "role": "file"},
            {"url": self.url(*REPORTS, rep), "path": f"{REPORTS[0]}/{REPORTS[1]}/{rep}",
             "checksum": "sha256:" + report_sums[rep], "expect": "text", "role": "text", "text_kind": "report"},
        ]
        return self.item(rec["dicom_id"], downloads=downloads, **fields)

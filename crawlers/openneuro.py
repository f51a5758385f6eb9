"""OpenNeuro BIDS datasets (MRI, PET, …): public, mostly CC0; GraphQL API, no login for public snapshots.

What it is: OpenNeuro (https://openneuro.org) hosts BIDS-formatted neuroimaging datasets as
versioned snapshots. This source downloads NIfTI images of one snapshot (``--query ds000001`` or
``ds000001:1.0.0``; default: the latest snapshot), selected with include/exclude globs on the path
(``--option include='sub-*/anat/*.nii.gz'``, ``exclude=…``; default include ``*.nii.gz,*.nii``).
Each image is paired with its BIDS metadata as text: the JSON sidecar (same stem, or the inherited
top-level one), the subject's ``participants.tsv`` row and the dataset's name
(``text_kind=description``); ``dataset_description.json`` is kept in ``meta``.

Access terms: public snapshots need no account. Licence per dataset (``License`` in
``dataset_description.json``; OpenNeuro publishes under CC0 unless stated). Cite the dataset DOI
(``DatasetDOI``) and Markiewicz CJ et al., The OpenNeuro resource for sharing of neuroscience data,
eLife 10:e71774 (2021).

Protocol: ``POST /crn/graphql`` — ``dataset(id) { latestSnapshot { tag } }`` and
``snapshot(datasetId, tag) { description { … } files(tree) { id key filename size directory annexed urls } }``,
walking directories by their ``key`` (the git tree hash; ``id`` on servers that give no key) as
``tree``. Files are fetched from the first usable ``urls`` entry (an escaped ``?versionId%3D`` is
repaired), or, when the answer has none, from ``/crn/datasets/<ds>/snapshots/<tag>/files/<a:b:c>``; size is
checked, and for git-annex files the checksum in the annex ``key`` (``SHA256E-s<size>--<hex>.nii.gz``
or ``MD5E-…``) too. The snapshot tag is recorded in ``source.json``; resuming against a different
tag is refused unless ``--option force=true``. robots.txt does not apply to the API. Rate: 5
requests/s, 4 connections per host.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from manifests.errors import UsageError

from crawlers.engine.spider import SourceSpider

DATASET_QUERY = "query dataset($datasetId: ID!) { dataset(id: $datasetId) { id latestSnapshot { tag } } }"
SNAPSHOT_QUERY = ("query snapshot($datasetId: ID!, $tag: String!, $tree: String) { snapshot(datasetId: $datasetId, tag: $tag) "
                  "{ id tag description { Name License Authors DatasetDOI BIDSVersion } "
                  "files(tree: $tree) { id key filename size directory annexed urls } } }")
DEFAULT_INCLUDE = ("*.nii.gz", "*.nii")
LICENSE_URLS = {"CC0": "https://creativecommons.org/publicdomain/zero/1.0/",
                "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/", "PDDL": "https://opendatacommons.org/licenses/pddl/1-0/"}
MODALITY = {"T1w": "MR", "T2w": "MR", "FLAIR": "MR", "PD": "MR", "bold": "MR", "dwi": "MR", "epi": "MR", "pet": "PT",
            "T2star": "MR", "angio": "MR", "asl": "MR", "MTR": "MR"}
_ANNEX = re.compile(r"^(SHA256E?|MD5E?|SHA1E?)-s(\d+)--([0-9a-fA-F]+)")
_DS = re.compile(r"^(ds\d{6})(?::([\w.\-]+))?$")


# -- pure helpers ------------------------------------------------------------------------------
def parse_query(query: str | None) -> tuple[str, str | None]:
    m = _DS.match((query or "").strip())
    if not m:
        raise UsageError(f"openneuro: --query must be a dataset id like ds000001 or ds000001:1.0.0, got {query!r}")
    return m.group(1), m.group(2)


def graphql_errors(doc: dict) -> str | None:
    errs = doc.get("errors") or []
    return "; ".join(e.get("message", str(e)) for e in errs) or None


def parse_latest_tag(body: bytes) -> str | None:
    doc = json.loads(body)
    ds = (doc.get("data") or {}).get("dataset") or {}
    return (ds.get("latestSnapshot") or {}).get("tag")


def parse_snapshot(body: bytes) -> tuple[dict, list[dict]]:
    """A snapshot response -> (description, files of this tree)."""
    doc = json.loads(body)
    if graphql_errors(doc):
        raise ValueError(graphql_errors(doc))
    snap = (doc.get("data") or {}).get("snapshot")
    if snap is None:
        raise ValueError("snapshot not found")
    return dict(snap.get("description") or {}), list(snap.get("files") or [])


def annex_checksum(key: str | None) -> tuple[str | None, int | None]:
    """``SHA256E-s311112--c352…fb.nii.gz`` -> ("sha256:c352…fb", 311112); non-annex keys -> (None, None)."""
    m = _ANNEX.match(key or "")
    if not m:
        return None, None
    algo = m.group(1).rstrip("E").lower()
    return f"{algo}:{m.group(3).lower()}", int(m.group(2))


def fix_url(url: str) -> str:
    """A file URL as the API gives it, repaired: ``?versionId%3DX`` (the query's ``=`` escaped, OpenNeuro
    issue #2521) -> ``?versionId=X``."""
    base, sep, query = url.partition("?")
    if sep and "=" not in query and "%3d" in query.lower():
        query = unquote(query)
    return base + sep + query


def usable(url: str | None) -> bool:
    """False for the ``…/objects/?filename=X`` URLs with an empty object id some answers carry."""
    return bool(url) and not urlsplit(url).path.endswith("/objects/")


def file_url(base_url: str, dataset: str, tag: str, path: str, urls) -> str:
    """Where to fetch a snapshot file: the first usable URL the API gave, else the snapshot's file
    endpoint ``/crn/datasets/<ds>/snapshots/<tag>/files/<path with : separators>`` (answers without
    ``urls``, or with ``urls: []``, are real: OpenNeuro issue #1064)."""
    for u in urls or []:
        if isinstance(u, str) and usable(fix_url(u)):
            return fix_url(u)
    return f"{base_url.rstrip('/')}/crn/datasets/{dataset}/snapshots/{tag}/files/{quote(path.replace('/', ':'), safe=':')}"


def tree_of(entry: dict) -> str:
    """The ``tree`` argument that lists a directory: its ``key`` (the git tree hash; OpenNeuro 4.x gives
    directories an ``id`` of their own), else its ``id`` (older servers: the id was the tree hash)."""
    return entry.get("key") or entry["id"]


def selected(path: str, include: list[str], exclude: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, g) for g in include) and not any(fnmatch.fnmatch(path, g) for g in exclude)


def globs(value, default=()) -> list[str]:
    if value is None:
        return list(default)
    if isinstance(value, str):
        return [g.strip() for g in value.split(",") if g.strip()]
    return [str(g) for g in value]


def parse_participants(body: bytes) -> dict[str, dict]:
    rows = csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter="\t")
    return {r["participant_id"]: {k: v for k, v in r.items() if k != "participant_id" and v not in (None, "", "n/a")} for r in rows}


def sidecar_for(path: str, jsons: set[str]) -> str | None:
    """The BIDS JSON sidecar of an image: same stem, else the top-level file it inherits from."""
    stem = re.sub(r"\.nii(\.gz)?$", "", path)
    if stem + ".json" in jsons:
        return stem + ".json"
    name = Path(stem).name
    entities = [e for e in name.split("_")[:-1] if not e.startswith(("sub-", "ses-", "run-"))]
    for cand in ("_".join([*entities, name.split("_")[-1]]) + ".json", name.split("_")[-1] + ".json"):
        if cand in jsons:
            return cand
    return None


def describe(dataset: str, tag: str, desc: dict, path: str, sidecar: dict | None, participant: dict | None) -> str:
    parts = [f"OpenNeuro {dataset} {tag}: {desc.get('Name') or 'dataset'}.", f"Image {path}."]
    if participant:
        parts.append("Participant: " + ", ".join(f"{k} {v}" for k, v in participant.items()) + ".")
    if sidecar:
        keep = {k: v for k, v in sidecar.items() if isinstance(v, (str, int, float)) and len(str(v)) < 200}
        parts.append("Acquisition: " + "; ".join(f"{k}={v}" for k, v in list(keep.items())[:20]) + ".")
    return " ".join(parts)


# -- spider --------------------------------------------------------------------------------------
class Spider(SourceSpider):
    name = "openneuro"
    option_names = ("include", "exclude", "force")
    default_base_url = "https://openneuro.org"
    download_rate = 5.0
    download_per_host = 4
    metadata_delay = 0.2
    robots_txt = False

    @staticmethod
    def check_options(options: dict, query: str | None) -> None:
        parse_query(query)

    @staticmethod
    def check_resume(recorded: dict, options: dict, query: str | None) -> None:
        dataset, tag = parse_query(query)
        if recorded.get("dataset") not in (None, dataset):
            raise UsageError(f"openneuro: this store holds {recorded['dataset']}, not {dataset}; use another --out")
        if tag and recorded.get("tag") not in (None, tag) and not options.get("force"):
            raise UsageError(f"openneuro: this store holds {dataset} snapshot {recorded['tag']}, not {tag}; "
                             "re-run with --option force=true to mix revisions, or use another --out")

    async def gql(self, query: str, variables: dict) -> bytes:
        from scrapy.http import JsonRequest

        url = f"{self.base_url}/crn/graphql"
        resp = await self.crawler.engine.download_async(JsonRequest(url, data={"query": query, "variables": variables},
                                                                    dont_filter=True))
        if resp.status != 200:
            raise self.fatal(f"POST {url}: HTTP {resp.status}")
        err = graphql_errors(json.loads(resp.body))
        if err:
            raise self.fatal(f"OpenNeuro GraphQL error: {err}")
        return resp.body

    async def get(self, url: str) -> bytes | None:
        import scrapy

        resp = await self.crawler.engine.download_async(scrapy.Request(url, dont_filter=True))
        return resp.body if resp.status == 200 else None

    async def start(self):
        import scrapy

        yield scrapy.Request(f"{self.base_url}/crn/graphql", method="POST", body=json.dumps(
            {"query": DATASET_QUERY, "variables": {"datasetId": parse_query(self.query)[0]}}),
            headers={"Content-Type": "application/json"}, callback=self.crawl_snapshot, dont_filter=True)

    async def crawl_snapshot(self, response):
        dataset, tag = parse_query(self.query)
        tag = tag or parse_latest_tag(response.body)
        if not tag:
            raise self.fatal(f"OpenNeuro dataset {dataset} has no snapshot")
        self.check_revision(dataset, tag)
        desc, files = await self.walk(dataset, tag)
        by_path = {f["path"]: f for f in files}
        meta_desc = {}
        if "dataset_description.json" in by_path:
            body = await self.get(by_path["dataset_description.json"]["urls"][0])
            meta_desc = json.loads(body) if body else {}
        desc = {**meta_desc, **{k: v for k, v in desc.items() if v}}
        participants = {}
        if "participants.tsv" in by_path:
            body = await self.get(by_path["participants.tsv"]["urls"][0])
            participants = parse_participants(body) if body else {}
        licence = desc.get("License") or "CC0"
        include = globs(self.options.get("include"), DEFAULT_INCLUDE)
        exclude = globs(self.options.get("exclude"))
        jsons = {p for p in by_path if p.endswith(".json")}
        for path in sorted(by_path):
            if self.exhausted:
                return
            f = by_path[path]
            sid = f"{dataset}:{tag}:{path}"
            if not selected(path, include, exclude) or sid in self.done_ids:
                continue
            side = sidecar_for(path, jsons)
            sidecar = json.loads(await self.get(by_path[side]["urls"][0]) or b"{}") if side else None
            subject = next((p for p in path.split("/") if p.startswith("sub-")), None)
            checksum, annex_size = annex_checksum(f.get("key")) if f.get("annexed", True) else (None, None)
            suffix = re.sub(r"\.nii(\.gz)?$", "", Path(path).name).split("_")[-1]
            yield self.item(
                sid, downloads=[{"url": f["urls"][0], "path": f"{dataset}/{tag}/{path}", "checksum": checksum,
                                 "size": f.get("size") or annex_size, "expect": "image", "role": "file"}],
                text=describe(dataset, tag, desc, path, sidecar, participants.get(subject)), text_kind="description",
                license=licence, license_url=LICENSE_URLS.get(licence), patient_id=f"{dataset}:{subject}" if subject else None,
                study_id=f"{dataset}:{'/'.join(p for p in path.split('/') if p.startswith(('sub-', 'ses-')))}",
                modality=MODALITY.get(suffix), attribution=self.attribution(dataset, desc),
                source_url=f"https://openneuro.org/datasets/{dataset}/versions/{tag}",
                meta={"dataset": dataset, "tag": tag, "path": path, "suffix": suffix, "sidecar": sidecar or {},
                      "participant": participants.get(subject) or {}, "dataset_description": desc, "annex_key": f.get("key")})

    def check_revision(self, dataset: str, tag: str) -> None:
        path = Path(self.settings.get("MEDHARVEST_OUT")) / "raw" / self.name / "source.json"
        if path.exists():
            rec = json.loads(path.read_text(encoding="utf-8"))
            if rec.get("tag") != tag and not self.options.get("force"):
                raise self.fatal(f"this store holds {dataset} snapshot {rec.get('tag')}, the server's is now {tag}; "
                                 "re-run with --option force=true to mix revisions, or use another --out")
        from manifests.io import write_json_atomic

        write_json_atomic(path, {"dataset": dataset, "tag": tag})

    async def walk(self, dataset: str, tag: str) -> tuple[dict, list[dict]]:
        """Every file of the snapshot, directories expanded (``tree`` = :func:`tree_of` the directory)."""
        desc, out, todo, seen = {}, [], [(None, "")], set()
        while todo:
            tree, prefix = todo.pop()
            if tree in seen:
                continue
            seen.add(tree)
            d, files = parse_snapshot(await self.gql(SNAPSHOT_QUERY, {"datasetId": dataset, "tag": tag, "tree": tree}))
            desc = desc or d
            for f in files:
                path = f"{prefix}{f['filename']}"
                if f.get("directory"):
                    todo.append((tree_of(f), path + "/"))
                else:
                    out.append({**f, "path": path, "urls": [file_url(self.base_url, dataset, tag, path, f.get("urls"))]})
        return desc, out

    @staticmethod
    def attribution(dataset: str, desc: dict) -> str:
        authors = ", ".join(desc.get("Authors") or [])
        doi = desc.get("DatasetDOI")
        return "; ".join(x for x in (authors, desc.get("Name"), f"OpenNeuro {dataset}", f"doi:{doi}" if doi else None) if x)

"""Push a manifest to a Label Studio project: config, image storage, tasks with predictions.

Tasks are keyed by the record ``key`` (task ``data.key``): the keys already in the project are
listed first and only new records are imported, so re-pushing creates no duplicates.
Images are shown either through a Local Files storage created for the manifest's image store
(URLs ``/data/local-files/?d=<path relative to the server's document root>``) or, with
``image_url_base``, as ``<base>/<image_path>`` served by any HTTP server.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curation.labelstudio.client import Connection, call, connect, find_project
from curation.labelstudio.interface import label_config, prediction_results, same_config
from manifests.paths import OutsideRoot, contained, image_roots
from manifests.errors import StageError, UsageError
from manifests.io import read_manifest, resolve_manifest
from manifests.schema import COLUMNS

log = logging.getLogger(__name__)

DOC_ROOT_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
MANIFEST_TAG = "medharvest-manifest: "
#: Columns a push reads (the rest of the record stays in the manifest).
PUSH_COLUMNS = ("key", "source", "image_path", "width", "height", "text", "text_kind", "labels", "boxes",
                "phi_flags", "status", "stage_version", "license", "attribution", "split")


@dataclass(frozen=True)
class PushConfig:
    project: str
    filter: str | None = None
    limit: int | None = None
    image_url_base: str | None = None
    document_root: Path | None = None
    update_config: bool = False
    batch_size: int = 250

    def __post_init__(self):
        if not self.project.strip():
            raise ValueError("--project must be a non-empty name")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {self.limit}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


# --- selection ----------------------------------------------------------------------------

def parse_filter(expr: str | None) -> list[tuple[str, str, str]]:
    """``"split=train,source!=sample,label:Mass=positive"`` -> [(column, op, value)]; ops ``=`` ``!=``."""
    out: list[tuple[str, str, str]] = []
    for part in (expr or "").split(","):
        part = part.strip()
        if not part:
            continue
        op = "!=" if "!=" in part else "=" if "=" in part else None
        if op is None:
            raise UsageError(f"filter clause '{part}' must be COLUMN=VALUE, COLUMN!=VALUE or label:FINDING=STATE")
        col, value = (s.strip() for s in part.split(op, 1))
        if col.startswith("label:"):
            from manifests.labels import canonical

            col = "label:" + canonical(col[len("label:"):])
        elif col not in COLUMNS:
            from manifests.registry import did_you_mean

            raise UsageError(f"filter column '{col}' is not a manifest column{did_you_mean(col, COLUMNS)}")
        out.append((col, op, value))
    return out


def _keep(rec: dict, clauses: list[tuple[str, str, str]]) -> bool:
    for col, op, value in clauses:
        if col.startswith("label:"):
            finding = col[len("label:"):]
            have = {item["state"] for item in rec.get("labels") or [] if item["finding"] == finding} or {"not_mentioned"}
            hit = value in have
        else:
            hit = str(rec.get(col)) == value
        if hit != (op == "="):
            return False
    return True


def select_records(table: pa.Table, cfg: PushConfig) -> tuple[list[dict], int]:
    """Records to push (status ok, with an image, matching the filter, up to the limit); and #skipped."""
    clauses = parse_filter(cfg.filter)
    extra = [c for c, _, _ in clauses if not c.startswith("label:") and c not in PUSH_COLUMNS]
    rows = table.select(list(PUSH_COLUMNS) + extra).to_pylist()
    out, skipped = [], 0
    for rec in rows:
        if not _keep(rec, clauses):
            continue
        if rec.get("status") not in (None, "ok") or not rec.get("image_path"):
            skipped += 1
            continue
        out.append(rec)
        if cfg.limit and len(out) >= cfg.limit:
            break
    return out, skipped


# --- images -------------------------------------------------------------------------------

def _image_size(rec: dict, roots: list[Path]) -> tuple[int, int] | None:
    if rec.get("width") and rec.get("height"):
        return int(rec["width"]), int(rec["height"])
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(contained(rec["image_path"], roots)) as im:
            return im.size
    except (OSError, UnidentifiedImageError, OutsideRoot):
        return None


def storage_root(roots: list[Path], records: list[dict]) -> tuple[Path | None, list[tuple[dict, Path]], list[str]]:
    """The folder a Local Files storage is registered at: the deepest folder holding every image, and
    never above the manifest's image store(s) ``roots`` (:func:`manifests.paths.image_roots`; the
    first is the manifest's folder, ``image_path`` is relative to it). Returns (folder or None,
    [(record, file)], refused): a record whose ``image_path`` leaves the roots (``../``, absolute, a
    symlink out) is refused with its reason, so no storage is ever registered at ``/`` or any folder
    outside the manifest's stores; images spread over two stores are a :class:`StageError`."""
    kept, refused = [], []
    for rec in records:
        try:
            kept.append((rec, contained(rec["image_path"], roots, what=f"{rec['key']}: image_path")))
        except OutsideRoot as err:
            refused.append(str(err))
    if not kept:
        return None, kept, refused
    common = Path(os.path.commonpath([str(f.parent) for _, f in kept]))
    if not any(common == r or common.is_relative_to(r) for r in roots):
        raise StageError(f"the images are spread over several stores ({', '.join(map(str, roots))}); push each "
                         "manifest separately or pass --image-url-base")
    return common, kept, refused


def _probe(conn: Connection, rel: str) -> bool:
    url = f"{conn.url}/data/local-files/?d={urllib.parse.quote(rel)}"
    req = urllib.request.Request(url, method="GET", headers={"Authorization": f"Token {conn.token}", "Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status in (200, 206)
    except (urllib.error.URLError, OSError):
        return False


def ensure_local_storage(conn: Connection, client, project_id: int, store: Path, document_root: Path | None,
                         sample: Path) -> Path:
    """A Local Files storage for ``store`` on the project; returns the server's document root.

    The document root is ``document_root`` (flag or ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``), or
    found by asking the server for ``sample`` relative to each parent folder of the store.
    """
    existing = call(conn, client.import_storage.local.list, project=project_id)
    if not any(Path(s.path) == store for s in existing):
        call(conn, client.import_storage.local.create, project=project_id, path=str(store),
             title=f"medharvest {store.name}", use_blob_urls=True,
             description="images of a medharvest manifest (created by medharvest annotate push)")
    candidates = [document_root] if document_root else list(store.parents)
    for root in candidates:
        rel = sample.relative_to(root).as_posix() if sample.is_relative_to(root) else None
        if rel and _probe(conn, rel):
            return root
    raise StageError(f"Label Studio at {conn.url} does not serve images under {store}: start it with "
                     f"LOCAL_FILES_SERVING_ENABLED and a {DOC_ROOT_ENV} above that folder, or pass --image-url-base")


# --- tasks --------------------------------------------------------------------------------

def model_version(label_source: str, stage_version: str | None) -> str:
    return f"{label_source}@{stage_version}" if stage_version else label_source


def build_task(rec: dict, image_url: str, size: tuple[int, int] | None) -> dict:
    """One LS task: data (image URL, text, key, provenance) and one prediction per label source."""
    by_source: dict[str, dict] = {}

    def slot(src: str | None) -> dict:
        return by_source.setdefault(src or "unknown", {"states": {}, "boxes": [], "phi": []})

    for item in rec.get("labels") or []:
        slot(item.get("label_source"))["states"][item["finding"]] = item["state"]
    for b in rec.get("boxes") or []:
        slot(b.get("label_source"))["boxes"].append(b)
    phi = [p for p in rec.get("phi_flags") or [] if p.get("where") == "image"]
    predictions = []
    for src, parts in by_source.items():
        result = prediction_results(parts["states"], parts["boxes"], [], size)
        if result:
            predictions.append({"model_version": model_version(src, rec.get("stage_version")), "result": result})
    if phi:
        result = prediction_results({}, [], phi, size)
        if result:
            predictions.append({"model_version": model_version("phi_scan", rec.get("stage_version")), "result": result})
    data = {"image": image_url, "text": rec.get("text") or "", "key": rec["key"], "image_path": rec["image_path"],
            "source": rec.get("source"), "split": rec.get("split"), "license": rec.get("license"),
            "attribution": rec.get("attribution")}
    return {"data": data, "predictions": predictions}


def existing_keys(conn: Connection, client, project_id: int) -> set[str]:
    keys: set[str] = set()
    pager = call(conn, client.tasks.list, project=project_id, include="id,data", page_size=1000)
    for task in call(conn, lambda: list(pager)):
        key = (task.data or {}).get("key")
        if key:
            keys.add(key)
    return keys


def ensure_project(conn: Connection, client, cfg: PushConfig, manifest: Path):
    config = label_config()
    project = find_project(conn, client, cfg.project)
    if project is None:
        return call(conn, client.projects.create, title=cfg.project, label_config=config,
                    description=f"{MANIFEST_TAG}{manifest}", show_collab_predictions=True), True
    if not same_config(project.label_config or "", config):
        if not cfg.update_config:
            raise StageError(f"Label Studio project '{cfg.project}' exists with a different labeling config; "
                             "pass --update-config to replace it or choose another --project")
        call(conn, client.projects.update, id=project.id, label_config=config)
    return project, False


def push(conn: Connection, manifest: str | os.PathLike, cfg: PushConfig) -> dict:
    """Create or reuse the project and import the records not yet in it. Returns a summary."""
    path = resolve_manifest(manifest).resolve()
    records, skipped = select_records(read_manifest(path), cfg)
    client = connect(conn)
    project, created = ensure_project(conn, client, cfg, path)
    have = existing_keys(conn, client, project.id) if not created else set()
    new = [r for r in records if r["key"] not in have]
    summary = {"project": cfg.project, "project_id": project.id, "project_created": created,
               "selected": len(records), "skipped_no_image": skipped, "already_in_project": len(records) - len(new),
               "imported": 0, "predictions": 0}
    if not new:
        return summary
    roots = image_roots(path)
    store, kept, refused = storage_root(roots, new)
    if refused:   # never pushed (no URL, no storage) and said so
        log.warning("%d record(s) not pushed: %s", len(refused), refused[0])
        summary["refused_outside"] = len(refused)
        summary["refused_examples"] = refused[:5]
        new = [rec for rec, _ in kept]
        if not new:
            return summary
    if cfg.image_url_base:
        base = cfg.image_url_base.rstrip("/")
        url_of = lambda rec: f"{base}/{urllib.parse.quote(rec['image_path'])}"  # noqa: E731
    else:
        files = [f for _, f in kept]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise StageError(f"{len(missing)} image(s) of the manifest are missing, e.g. {missing[0]}")
        doc_root = cfg.document_root or (Path(os.environ[DOC_ROOT_ENV]) if os.environ.get(DOC_ROOT_ENV) else None)
        doc_root = ensure_local_storage(conn, client, project.id, store, doc_root and doc_root.resolve(), files[0])
        url_of = lambda rec: "/data/local-files/?d=" + urllib.parse.quote(  # noqa: E731
            contained(rec["image_path"], roots).relative_to(doc_root).as_posix())
    for i in range(0, len(new), cfg.batch_size):
        batch = [build_task(r, url_of(r), _image_size(r, roots)) for r in new[i:i + cfg.batch_size]]
        resp = call(conn, client.projects.import_tasks, id=project.id, request=batch)
        summary["imported"] += int(getattr(resp, "task_count", None) or len(batch))
        summary["predictions"] += int(getattr(resp, "prediction_count", None) or 0)
    log.info("pushed %d task(s) to project %r", summary["imported"], cfg.project)
    return summary


def manifest_of_project(description: str | None) -> Path | None:
    """The manifest path a push recorded in the project description, if any."""
    for line in (description or "").splitlines():
        if line.startswith(MANIFEST_TAG):
            return Path(line[len(MANIFEST_TAG):].strip())
    return None



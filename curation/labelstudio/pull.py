"""Pull human annotations from a Label Studio project and merge them into a new manifest.

The export goes through the snapshot export API (create, wait until completed, download JSON), so
large projects do not time out. For each annotation of each task:

* finding states -> ``labels`` entries with ``label_source="human"`` and ``annotator`` (email);
* lesion rectangles -> ``boxes`` in image pixels; PHI rectangles -> ``phi_flags`` (where="image");
* who, when, lead time, note, cancelled flag and the raw result -> ``meta["labelstudio"][project]``.

Nothing is overwritten: dataset/model labels stay beside the human ones. Disagreements between
annotators and between humans and other label sources are written to a conflicts file, agreement
to the task's meta and to a stats file. The base manifest is never edited.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.labelstudio.agreement import project_agreement, task_agreement
from curation.labelstudio.client import Connection, call, connect, find_project, user_names
from curation.labelstudio.interface import parse_result
from curation.labelstudio.push import manifest_of_project
from manifests.errors import StageError
from manifests.io import MANIFEST_NAME, atomic_path, read_manifest, write_json_atomic, write_manifest
from manifests.schema import SCHEMA, empty_record, from_records, labels_list

log = logging.getLogger(__name__)
HUMAN = "human"


@dataclass(frozen=True)
class PullConfig:
    project: str
    export_timeout_s: float = 600.0
    poll_s: float = 0.5


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    out = Path(out)
    manifest = out if out.suffix == ".parquet" else out / MANIFEST_NAME
    stem = manifest.with_suffix("")
    return {"manifest": manifest, "stats": Path(f"{stem}.annotate-stats.json"),
            "conflicts": Path(f"{stem}.annotate-conflicts.jsonl"), "export": Path(f"{stem}.labelstudio-export.json")}


# --- export -------------------------------------------------------------------------------

def snapshot_export(conn: Connection, client, project_id: int, cfg: PullConfig) -> list[dict]:
    """Tasks with annotations via a snapshot export (create -> wait -> download JSON)."""
    snap = call(conn, client.projects.exports.create, id=project_id, title=f"medharvest pull {int(time.time())}")
    deadline = time.monotonic() + cfg.export_timeout_s
    status = snap.status
    while status not in ("completed", "failed"):
        if time.monotonic() > deadline:
            raise StageError(f"Label Studio export {snap.id} of project {project_id} did not finish within "
                             f"{cfg.export_timeout_s:.0f} s")
        time.sleep(cfg.poll_s)
        status = call(conn, client.projects.exports.get, id=project_id, export_pk=snap.id).status
    if status == "failed":
        raise StageError(f"Label Studio export {snap.id} of project {project_id} failed on the server")
    raw = call(conn, lambda: b"".join(client.projects.exports.download(id=project_id, export_pk=snap.id,
                                                                      export_type="JSON")))
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise StageError(f"Label Studio export {snap.id} is not JSON: {err}") from err


# --- per task -----------------------------------------------------------------------------

def _task_annotations(task: dict, names: dict[int, str]) -> list[dict]:
    out = []
    for ann in task.get("annotations") or []:
        who = ann.get("completed_by")
        if isinstance(who, dict):
            who = who.get("email") or who.get("id")
        annotator = names.get(who, str(who)) if isinstance(who, int) else str(who)
        parsed = parse_result(ann.get("result") or [])
        out.append({"id": ann.get("id"), "annotator": annotator, "created_at": ann.get("created_at"),
                    "updated_at": ann.get("updated_at"), "lead_time": ann.get("lead_time"),
                    "was_cancelled": bool(ann.get("was_cancelled")), "ground_truth": bool(ann.get("ground_truth")),
                    "parsed": parsed, "result": ann.get("result") or []})
    return out


def _load_meta(value: str | None) -> dict:
    if not value:
        return {}
    try:
        meta = json.loads(value)
    except json.JSONDecodeError:
        return {"_unparsed_meta": value}
    return meta if isinstance(meta, dict) else {"_meta": meta}


def merge_task(rec: dict, task_ids: list, anns: list[dict], project: str, pulled_at: str) -> tuple[dict, list[dict], dict | None]:
    """Record with its tasks' human annotations appended; returns (record, conflicts, agreement)."""
    meta = _load_meta(rec.get("meta"))
    ls_meta = meta.setdefault("labelstudio", {})
    # re-pulling into a manifest that already holds this project's labels: replace them, not add twice
    previous = {a.get("annotator") for a in (ls_meta.get(project) or {}).get("annotations", [])}
    keep = lambda items: [i for i in items or [] if not (i.get("label_source") == HUMAN and i.get("annotator") in previous)]  # noqa: E731
    labels, boxes = keep(rec.get("labels")), keep(rec.get("boxes"))
    phi = list(rec.get("phi_flags") or [])
    other_states: dict[str, dict[str, str]] = {}
    for item in labels:
        if item.get("label_source") != HUMAN:
            other_states.setdefault(item["finding"], {})[item.get("label_source") or "unknown"] = item["state"]
    states_by_annotator: dict[str, dict[str, str]] = {}
    for a in anns:
        if a["was_cancelled"]:
            continue
        p = a["parsed"]
        labels.extend(labels_list(p["states"], HUMAN, a["annotator"]))
        boxes.extend({**b, "label_source": HUMAN, "annotator": a["annotator"]} for b in p["boxes"])
        phi.extend(p["phi"])
        if p["states"]:
            states_by_annotator[a["annotator"]] = p["states"]
    agreement = task_agreement(states_by_annotator)
    conflicts: list[dict] = []
    key, task_id = rec["key"], (task_ids[0] if len(task_ids) == 1 else task_ids)
    if agreement:
        for f in agreement["disagreements"]:
            conflicts.append({"key": key, "task_id": task_id, "kind": "annotators", "finding": f,
                              "states": {a: s.get(f, "not_mentioned") for a, s in states_by_annotator.items()}})
    for f, by_source in sorted(other_states.items()):
        human = {a: s[f] for a, s in states_by_annotator.items() if f in s}
        for src, state in sorted(by_source.items()):
            differing = {a: h for a, h in human.items() if h != state}
            if differing:
                conflicts.append({"key": key, "task_id": task_id, "kind": f"human_vs_{src}", "finding": f,
                                  src: state, "human": differing})
    ls_meta[project] = {
        "task_id": task_id, "pulled_at": pulled_at, "agreement": agreement,
        "annotations": [{k: v for k, v in a.items() if k != "parsed"} | {"note": a["parsed"]["note"]} for a in anns],
    }
    rec = {**rec, "labels": labels, "boxes": boxes, "phi_flags": phi, "meta": json.dumps(meta, sort_keys=True)}
    return rec, conflicts, agreement


def _new_record(task: dict, key: str) -> dict:
    data = task.get("data") or {}
    rec = empty_record()
    source, _, source_id = key.partition(":")
    rec.update({"key": key, "source": data.get("source") or source, "source_id": source_id or key,
                "image_path": data.get("image_path"), "text": data.get("text") or None,
                "license": data.get("license"), "attribution": data.get("attribution"), "split": data.get("split"),
                "stage_version": "annotate-pull"})
    return rec


# --- the stage ----------------------------------------------------------------------------

def pull(conn: Connection, out: str | os.PathLike, cfg: PullConfig, base: str | os.PathLike | None = None) -> dict:
    client = connect(conn)
    project = find_project(conn, client, cfg.project)
    if project is None:
        raise StageError(f"Label Studio at {conn.url} has no project named '{cfg.project}'")
    if base is None:
        base = manifest_of_project(project.description)
        if base is not None and not Path(base).exists():
            log.warning("manifest %s recorded in the project is gone; building records from the tasks", base)
            base = None
    table = read_manifest(base) if base is not None else SCHEMA.empty_table()
    tasks = snapshot_export(conn, client, project.id, cfg)
    names = user_names(conn, client)
    paths = output_paths(out)
    with atomic_path(paths["export"]) as tmp:
        tmp.write_text(json.dumps(tasks), encoding="utf-8")

    pulled_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    by_key: dict[str, list[dict]] = {}
    no_key = 0
    for task in tasks:
        key = (task.get("data") or {}).get("key")
        if not key:
            no_key += 1
            continue
        by_key.setdefault(key, []).append(task)
    annotated = {k: ts for k, ts in by_key.items() if any(t.get("annotations") for t in ts)}
    keys = table.column("key")
    mask = pc.is_in(keys, value_set=pa.array(sorted(annotated), type=pa.string()))
    idx = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
    touched_rows = table.take(pa.array(idx, type=pa.int64())).to_pylist() if len(idx) else []
    found = {r["key"] for r in touched_rows}
    new_rows = [_new_record(annotated[k][0], k) for k in sorted(annotated) if k not in found]

    conflicts: list[dict] = []
    agreements: list[float] = []
    states_for_alpha: list[dict] = []
    merged: list[dict] = []
    n_ann = n_cancelled = 0
    annotators: set[str] = set()
    for rec in touched_rows + new_rows:
        ts = annotated[rec["key"]]
        anns = [a for task in ts for a in _task_annotations(task, names)]
        n_ann += len(anns)
        n_cancelled += sum(a["was_cancelled"] for a in anns)
        annotators.update(a["annotator"] for a in anns)
        rec, c, agreement = merge_task(rec, [t.get("id") for t in ts], anns, cfg.project, pulled_at)
        conflicts.extend(c)
        if agreement:
            agreements.append(agreement["pairwise"])
        states_for_alpha.append({a["annotator"]: a["parsed"]["states"] for a in anns if not a["was_cancelled"]})
        merged.append(rec)

    untouched = table.filter(pc.invert(mask)) if table.num_rows else table
    result = pa.concat_tables([untouched, from_records(merged[:len(touched_rows)]), from_records(merged[len(touched_rows):])])
    if table.num_rows:  # keep the base order: untouched and touched rows back in their places
        order = np.empty(table.num_rows, dtype=np.int64)
        is_touched = np.zeros(table.num_rows, dtype=bool)
        is_touched[idx] = True
        order[~is_touched] = np.arange(int((~is_touched).sum()))
        order[idx] = len(untouched) + np.arange(len(idx))
        order = np.concatenate([order, np.arange(table.num_rows, result.num_rows)])
        result = result.take(pa.array(order))
    write_manifest(result, paths["manifest"], meta={"labelstudio_pull": {"project": cfg.project, "pulled_at": pulled_at}})
    with atomic_path(paths["conflicts"]) as tmp:
        tmp.write_text("".join(json.dumps(c, sort_keys=True) + "\n" for c in conflicts), encoding="utf-8")
    summary = {
        "project": cfg.project, "project_id": project.id, "base": str(base) if base else None,
        "tasks": len(tasks), "tasks_without_key": no_key, "annotated_records": len(merged),
        "records_added": len(new_rows), "annotations": n_ann, "cancelled_annotations": n_cancelled,
        "annotators": sorted(annotators), "conflicts": len(conflicts),
        "conflict_kinds": dict(sorted(_count(c["kind"] for c in conflicts).items())),
        "mean_pairwise_agreement": (sum(agreements) / len(agreements)) if agreements else None,
        **project_agreement(states_for_alpha),
        "out": str(paths["manifest"]),
    }
    write_json_atomic(paths["stats"], summary)
    return summary


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out

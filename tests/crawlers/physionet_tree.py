"""A tiny fake MIMIC-CXR / MIMIC-CXR-JPG tree (generated here, no real MIMIC data) on a ReplayServer.

Shapes follow the real projects: ``cxr-record-list.csv.gz`` / ``cxr-study-list.csv.gz``,
``files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg`` + ``sNNNNNNNN.txt``, ``SHA256SUMS.txt`` in the
published format, the CheXpert / metadata / split CSVs. Basic auth like PhysioNet: only a ``Wget/``
User-Agent with the right credentials gets files (401 otherwise); ``no_dua`` users get 403.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import random
from dataclasses import dataclass, field

from tests.crawlers.replay import ReplayServer, Response

USER, PASSWORD = "alice", "s3cret-pw"


def tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buf, "JPEG")
    return buf.getvalue()


def _csv_gz(header: list[str], rows: list[list]) -> bytes:
    s = io.StringIO()
    w = csv.writer(s, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return gzip.compress(s.getvalue().encode(), mtime=0)


@dataclass
class FakeMimic:
    images: dict[str, bytes] = field(default_factory=dict)     # jpg project path -> bytes
    reports: dict[str, bytes] = field(default_factory=dict)    # mimic-cxr path -> bytes
    records: list[dict] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)      # URL path -> bytes (everything served)


def build(n_images: int, *, seed: int = 0) -> FakeMimic:
    rng = random.Random(seed)
    base = tiny_jpeg()
    fake = FakeMimic()
    study_rows, labels_rows, meta_rows, split_rows = [], [], [], []
    i = 0
    subject = 10000000
    while i < n_images:
        subject += 1
        study = 50000000 + i
        p = f"files/p{str(subject)[:2]}/p{subject}"
        rep = f"{p}/s{study}.txt"
        fake.reports[rep] = (f"                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n\n"
                             f" FINDINGS: \n\n Study {study}. No focal consolidation.\n\n IMPRESSION: \n\n No acute process {i}.\n").encode()
        study_rows.append([subject, study, rep])
        labels_rows.append([subject, study] + [rng.choice(["", "1.0", "0.0", "-1.0"]) for _ in range(14)])
        for view in ("PA", "LATERAL")[: 1 + (i % 2)]:
            if i >= n_images:
                break
            dicom = hashlib.sha1(f"{seed}-{i}".encode()).hexdigest()[:40]
            dicom = "-".join([dicom[:8], dicom[8:16], dicom[16:24], dicom[24:32], dicom[32:40]])
            path = f"{p}/s{study}/{dicom}.dcm"
            fake.records.append({"subject_id": str(subject), "study_id": str(study), "dicom_id": dicom, "path": path})
            fake.images[path[:-4] + ".jpg"] = base + f"\n{dicom}".encode()  # bytes after EOI: still a JPEG
            meta_rows.append([dicom, subject, study, "CHEST (PA AND LAT)", view, 8, 8])
            split_rows.append([dicom, study, subject, rng.choice(["train", "validate", "test"])])
            i += 1
    from manifests.labels import CHEXPERT14

    rec = _csv_gz(["subject_id", "study_id", "dicom_id", "path"], [[r["subject_id"], r["study_id"], r["dicom_id"], r["path"]] for r in fake.records])
    cxr, jpg = "/mimic-cxr/2.0.0/", "/mimic-cxr-jpg/2.1.0/"
    fake.files[cxr + "cxr-record-list.csv.gz"] = rec
    fake.files[cxr + "cxr-study-list.csv.gz"] = _csv_gz(["subject_id", "study_id", "path"], study_rows)
    for path, data in fake.reports.items():
        fake.files[cxr + path] = data
    fake.files[cxr + "SHA256SUMS.txt"] = "".join(f"{hashlib.sha256(d).hexdigest()} {p}\n" for p, d in
                                                 [("cxr-record-list.csv.gz", rec), *fake.reports.items()]).encode()
    for path, data in fake.images.items():
        fake.files[jpg + path] = data
    fake.files[jpg + "SHA256SUMS.txt"] = "".join(f"{hashlib.sha256(d).hexdigest()} {p}\n" for p, d in fake.images.items()).encode()
    fake.files[jpg + "mimic-cxr-2.0.0-chexpert.csv.gz"] = _csv_gz(["subject_id", "study_id", *sorted(CHEXPERT14)],
                                                                 [r[:2] + r[2:] for r in labels_rows])
    fake.files[jpg + "mimic-cxr-2.0.0-metadata.csv.gz"] = _csv_gz(
        ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns"], meta_rows)
    fake.files[jpg + "mimic-cxr-2.0.0-split.csv.gz"] = _csv_gz(["dicom_id", "study_id", "subject_id", "split"], split_rows)
    return fake


def physionet_gate(no_dua: set[str] = frozenset()):
    """PhysioNet's rule: Basic auth counts only for Wget user agents; 403 for users without the DUA."""
    good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def gate(req):
        auth = req.headers.get("Authorization", "")
        user = base64.b64decode(auth[6:]).decode().split(":")[0] if auth.startswith("Basic ") else None
        if not req.headers.get("User-Agent", "").startswith("Wget/") or user is None:
            return Response(401, b"<html><body>Login required</body></html>", {"WWW-Authenticate": 'Basic realm="PhysioNet"'}, "text/html")
        if user in no_dua:
            return Response(403, b"<html><body>Forbidden</body></html>", {}, "text/html")
        if auth != good:
            return Response(401, b"<html><body>Bad credentials</body></html>", {"WWW-Authenticate": 'Basic realm="PhysioNet"'}, "text/html")
        return None

    return gate


def serve(srv: ReplayServer, fake: FakeMimic, *, faults: dict[str, list] | None = None, always: dict[str, str] | None = None) -> None:
    for path, data in fake.files.items():
        ctype = "image/jpeg" if path.endswith(".jpg") else ("text/plain" if path.endswith(".txt") else "application/gzip")
        srv.add(path, data, content_type=ctype, faults=(faults or {}).get(path), always=(always or {}).get(path))
    srv.gate = physionet_gate()

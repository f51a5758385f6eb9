"""A fake GDC API on a ReplayServer: ``POST /files`` (filters, fields, size/from, pagination block in
the real response shape), ``GET /data/{uuid}`` (Content-Disposition, Range, 403 bodies as the GDC
sends them), ``GET /status``. The catalog is generated here; no real GDC data."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random

from tests.crawlers.replay import Request, Response, _parse_range

TOKEN = "gdc-token-abc123"


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with a text layer (Helvetica), written by hand."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


class FakeGDC:
    def __init__(self, n_cases: int = 5, *, seed: int = 0, controlled: int = 0):
        rng = random.Random(seed)
        self.files: dict[str, dict] = {}
        self.blobs: dict[str, bytes] = {}
        for c in range(n_cases):
            case_id = f"{c:08d}-aaaa-4bbb-8ccc-{rng.getrandbits(48):012x}"
            case = {"case_id": case_id, "submitter_id": f"TCGA-XX-{c:04d}", "project": {"project_id": "TCGA-BRCA"},
                    "primary_site": "Breast", "disease_type": "Ductal and Lobular Neoplasms",
                    "diagnoses": [{"primary_diagnosis": "Infiltrating duct carcinoma, NOS", "tissue_or_organ_of_origin": "Breast, NOS",
                                   "ajcc_pathologic_stage": rng.choice(["Stage I", "Stage IIA", "Stage IIIB"]), "tumor_grade": "Not Reported"}]}
            slide = b"II*\x00" + os.urandom(2000 + c)
            self._add(f"TCGA-XX-{c:04d}-01Z-00-DX1.{c:04X}.svs", slide, "Slide Image", "SVS", case,
                      access="controlled" if c < controlled else "open")
            if c % 2 == 0:
                self._add(f"TCGA-XX-{c:04d}.report.PDF", minimal_pdf(f"Pathology report {c}: invasive ductal carcinoma"),
                          "Pathology Report", "PDF", case)

    def _add(self, name, data, data_type, fmt, case, access="open"):
        fid = hashlib.md5(name.encode()).hexdigest()
        fid = f"{fid[:8]}-{fid[8:12]}-{fid[12:16]}-{fid[16:20]}-{fid[20:32]}"
        self.files[fid] = {"id": fid, "file_id": fid, "file_name": name, "md5sum": hashlib.md5(data).hexdigest(),
                           "file_size": len(data), "data_type": data_type, "data_format": fmt, "access": access,
                           "experimental_strategy": "Diagnostic Slide" if fmt == "SVS" else "Pathology Report",
                           "cases": [case]}
        self.blobs[fid] = data

    def slides(self) -> list[dict]:
        return [f for f in self.files.values() if f["data_format"] == "SVS"]

    # -- the API ---------------------------------------------------------------------------
    def _match(self, f: dict, flt: dict) -> bool:
        op, content = flt["op"], flt["content"]
        if op == "and":
            return all(self._match(f, c) for c in content)
        if op == "in":
            field, values = content["field"].removeprefix("files."), content["value"]
            if field == "cases.case_id":
                return f["cases"][0]["case_id"] in values
            if field == "cases.project.project_id":
                return f["cases"][0]["project"]["project_id"] in values
            if field == "access" and values == ["open"] and f["data_format"] == "SVS":
                return True  # the slide search lists controlled ones too (downloads are refused)
            return f.get(field) in values
        raise ValueError(op)

    def files_endpoint(self, req: Request) -> Response:
        body = req.json()
        filters = body["filters"] if isinstance(body["filters"], dict) else json.loads(body["filters"])
        size, start = int(body.get("size", 10)), int(body.get("from", 0))
        hits = [f for f in self.files.values() if self._match(f, filters)]
        page = hits[start:start + size]
        pagination = {"count": len(page), "total": len(hits), "size": size, "from": start, "sort": "",
                      "page": start // size + 1 if size else 1, "pages": max(1, math.ceil(len(hits) / size)) if size else 1}
        data = {"data": {"hits": page, "pagination": pagination}, "warnings": {}}
        return Response(200, json.dumps(data).encode(), content_type="application/json")

    def data_endpoint(self, req: Request) -> Response:
        fid = req.path.rsplit("/", 1)[1]
        f = self.files.get(fid)
        if f is None:
            return Response(404, b'{"message": "File not found"}', content_type="application/json")
        if f["access"] == "controlled":
            tok = req.headers.get("X-Auth-Token")
            if not tok:
                return Response(403, b'{"message": "You don\'t have access to the data: Please specify a X-Auth-Token"}',
                                content_type="application/json")
            if tok != TOKEN:
                return Response(403, b'{"message": "Your token is invalid or expired, please get a new token from GDC Data Portal"}',
                                content_type="application/json")
        data = self.blobs[fid]
        headers = {"Content-Disposition": f"attachment; filename={f['file_name']}", "Accept-Ranges": "bytes"}
        rng = _parse_range(req.headers.get("Range"), len(data))
        if rng:
            headers["Content-Range"] = f"bytes {rng[0]}-{rng[1]}/{len(data)}"
            return Response(206, data[rng[0]:rng[1] + 1], headers, "application/octet-stream")
        return Response(200, data, headers, "application/octet-stream")

    def serve(self, srv, status_body: bytes = b'{"status": "OK"}') -> None:
        srv.add("/status", status_body, content_type="application/json")
        srv.add_handler("/files", self.files_endpoint, methods=("POST",))
        srv.add_handler("/data/", self.data_endpoint, prefix=True)

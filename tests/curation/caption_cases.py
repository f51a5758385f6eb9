"""One case per registered captioner, for the captioner contract test (and the caption tests' shared
pieces: the small manifest, the OpenAI-compatible loopback chat server's handler).

Convention: ``CASES[<captioner name>]`` is a function ``(in_dir, request) -> CaptionCase`` that gets
the directory of a :func:`manifest` of :data:`N` records and prepares what its captioner needs (a
tiny random model, a loopback server: pytest fixtures through ``request.getfixturevalue``). It
breaks one record's input so that this captioner must fail it (``fails``), or says why nothing
can (``fails=None`` + ``why_total``). A captioner without an entry here FAILS the contract test:
writing a new captioner means writing its case too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
from PIL import Image

from curation.caption.run import CaptionConfig
from manifests.io import write_manifest
from manifests.schema import from_records, labels_list

#: records in the contract test's manifest
N = 4


def manifest(root: Path, n: int = N, *, text_every: int = 2) -> Path:
    """``n`` DX chest records with PNGs under ``root/images``; every ``text_every``-th has a report."""
    recs = []
    states = [{"Cardiomegaly": "positive", "Effusion": "uncertain", "Pneumothorax": "negative"},
              {"No Finding": "positive"}, {"Atelectasis": "positive", "Nodule": "negative"}, {}]
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40), dtype=np.uint8)).save(buf, format="PNG")
        (root / "images" / f"{i}.png").write_bytes(buf.getvalue())
        recs.append({"key": f"sample:{i}", "source": "sample", "source_id": str(i), "modality": "DX", "view": "PA",
                     "body_part": "chest", "image_path": f"images/{i}.png",
                     "image_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                     "text": "FINDINGS: Heart size normal." if i % text_every == 0 else None,
                     "text_kind": "report" if i % text_every == 0 else None,
                     "labels": labels_list(states[i % 4], "dataset")})
    return write_manifest(from_records(recs), root / "manifest.parquet")


def weights_sha256(model_dir: Path, suffix: str = ".safetensors") -> str:
    """The provenance hash of a model directory, computed independently of the captioner's code."""
    h = hashlib.sha256()
    for p in sorted(p for p in model_dir.iterdir() if p.suffix == suffix):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


class ChatHandler(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible ``/chat/completions``: ``script`` = statuses of the next requests."""

    script: list = []   # per-request statuses, then 200s
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"auth": self.headers.get("Authorization"), "body": body})
        status = type(self).script.pop(0) if type(self).script else 200
        if status == 200:
            url = body["messages"][1]["content"][1]["image_url"]["url"]
            data = json.dumps({"choices": [{"message": {"role": "assistant",
                                                        "content": f"PA chest radiograph. Small left pleural effusion. ({len(url)})"}}]})
        else:
            data = json.dumps({"error": "slow down"})
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *a):
        pass


@dataclasses.dataclass(frozen=True)
class CaptionCase:
    config: CaptionConfig
    #: the provenance every caption must carry (besides ``captioner`` and ``prompt_version``)
    provenance: dict
    #: the key of the record whose input was broken, and what its error must say
    fails: str | None
    error_match: str = ""
    #: fails is None: why no input can make this captioner fail a record
    why_total: str = ""


def _template(in_dir: Path, request) -> CaptionCase:
    (in_dir / "images" / "1.png").unlink()   # the template never opens the image: still captioned
    return CaptionCase(CaptionConfig(), {"model": None, "weights_sha256": None, "endpoint": None}, fails=None,
                       why_total="it reads only the record's columns; a missing image does not stop it")


def _blip(in_dir: Path, request) -> CaptionCase:
    model = request.getfixturevalue("tiny_blip")
    (in_dir / "images" / "1.png").write_bytes(b"not a png")
    cfg = CaptionConfig(captioner="blip", model=str(model), batch_size=2, max_new_tokens=4, device="cpu")
    return CaptionCase(cfg, {"model": str(model), "weights_sha256": weights_sha256(model), "endpoint": None},
                       fails="sample:1", error_match="cannot read image")


def _llm(in_dir: Path, request) -> CaptionCase:
    url = request.getfixturevalue("chat_server")
    (in_dir / "images" / "1.png").unlink()
    cfg = CaptionConfig(captioner="llm", endpoint=url, model="tiny-vlm", retries=1, backoff_s=0.0, timeout_s=10)
    return CaptionCase(cfg, {"model": "tiny-vlm", "weights_sha256": None, "endpoint": url},
                       fails="sample:1", error_match="cannot read image")


CASES: dict[str, Callable[[Path, object], CaptionCase]] = {"blip": _blip, "llm": _llm, "template": _template}

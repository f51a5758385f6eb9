"""curate caption: template (NER reads the states back), tiny random BLIP through the user path,
an OpenAI-compatible loopback server (retries, budget, key never written), resume, failures."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.caption.run import CaptionConfig, caption_run
from manifests.errors import UsageError
from manifests.io import read_manifest, write_manifest
from manifests.schema import from_records, labels_list


def _manifest(root: Path, n: int = 4, *, text_every: int = 2) -> Path:
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


def test_template_captions_read_back_and_resume(tmp_path):
    src = _manifest(tmp_path / "in")
    out = tmp_path / "out"
    s = caption_run(CaptionConfig(), src, out)
    assert s["captioned"] == 4 and s["caption_status"] == {"ok": 4}
    rows = {r["key"]: r for r in read_manifest(out).to_pylist()}
    r0 = rows["sample:0"]
    assert r0["text"] == "FINDINGS: Heart size normal."          # the report is never overwritten
    cap = r0["captions"][0]
    assert cap["text"].startswith("PA chest radiograph.") and cap["captioner"] == "template"
    assert cap["prompt_version"] == "template/1" and cap["text_kind"] == "caption"
    got = {lab["finding"]: lab["state"] for lab in cap["labels"] if lab["finding"] in ("Cardiomegaly", "Effusion", "Pneumothorax")}
    assert got == {"Cardiomegaly": "positive", "Effusion": "uncertain", "Pneumothorax": "negative"}
    assert all(lab["label_source"] == "caption" for lab in cap["labels"])
    assert {lab["label_source"] for lab in r0["labels"]} == {"dataset"}  # caption labels stay in the caption
    assert (out / rows["sample:1"]["image_path"]).is_file()              # paths rebased onto out
    again = caption_run(CaptionConfig(), src, out)
    assert again["captioned"] == 0 and again["reused"] == 4
    only = caption_run(CaptionConfig(only_missing=True), src, tmp_path / "only")
    assert only["captioned"] == 2 and only["skipped"] == {"has_text": 2}
    # captioning the captioned manifest again with the same captioner adds nothing
    assert caption_run(CaptionConfig(), out, tmp_path / "twice")["skipped"] == {"already_captioned": 4}


def test_usage_errors_before_work(tmp_path):
    src = _manifest(tmp_path / "in")
    with pytest.raises(UsageError, match="did you mean 'blip'"):
        CaptionConfig(captioner="blpi")
    with pytest.raises(UsageError, match="needs --model"):
        caption_run(CaptionConfig(captioner="blip"), src, tmp_path / "o")
    with pytest.raises(UsageError, match="never edits its input"):
        caption_run(CaptionConfig(), src, tmp_path / "in")
    assert not (tmp_path / "o" / "manifest.parquet").exists()


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    d = tmp_path_factory.mktemp("blip")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "chest", "x", "ray", "of", "the", "lung",
             "heart", "normal", "effusion", "left", "right"]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = BertTokenizer(str(d / "vocab.txt"), bos_token="[DEC]")
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    cfg = BlipConfig(
        text_config={"vocab_size": len(words), "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 37, "encoder_hidden_size": 32, "max_position_embeddings": 64,
                     "bos_token_id": 5, "pad_token_id": 0, "sep_token_id": 3, "eos_token_id": 3},
        vision_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37,
                       "image_size": 32, "patch_size": 8},
        projection_dim=32)
    import torch

    torch.manual_seed(0)
    model = BlipForConditionalGeneration(cfg)
    model.generation_config.min_new_tokens = 2
    model.save_pretrained(d / "model")
    proc.save_pretrained(d / "model")
    return d / "model"


def test_blip_tiny_random_model_through_the_user_path(tmp_path, tiny_blip):
    src = _manifest(tmp_path / "in", n=5)
    (tmp_path / "in" / "images" / "3.png").write_bytes(b"not a png")   # one unreadable image
    cfg = CaptionConfig(captioner="blip", model=str(tiny_blip), batch_size=2, max_new_tokens=4, device="cpu")
    s = caption_run(cfg, src, tmp_path / "out")
    assert s["captioned"] == 5 and s["caption_status"] == {"ok": 4, "error": 1}
    weights = sorted(p for p in tiny_blip.iterdir() if p.suffix == ".safetensors")
    h = hashlib.sha256()
    for p in weights:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    assert s["provenance"]["weights_sha256"] == h.hexdigest() and s["provenance"]["model"] == str(tiny_blip)
    rows = {r["key"]: r for r in read_manifest(tmp_path / "out").to_pylist()}
    bad = rows["sample:3"]["captions"][0]
    assert bad["status"] == "error" and "cannot read image" in bad["error"] and rows["sample:3"]["status"] == "ok"
    good = rows["sample:0"]["captions"][0]
    assert good["status"] == "ok" and good["text"] and good["captioner"] == "blip"
    # re-run: the four good ones are reused, only the failed one is tried again (and fails again)
    again = caption_run(cfg, src, tmp_path / "out")
    assert again["reused"] == 4 and again["captioned"] == 1


class _Chat(BaseHTTPRequestHandler):
    script: list = []   # per-request (status, body) answers, then 200s
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


@pytest.fixture
def chat_server():
    _Chat.script, _Chat.seen = [], []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_llm_retries_budget_and_key_never_written(tmp_path, chat_server, monkeypatch, capsys):
    from medharvest.cli import main

    src = _manifest(tmp_path / "in", n=3)
    key = "sk-test-SECRET-123"
    monkeypatch.setenv("MEDHARVEST_LLM_API_KEY", key)
    _Chat.script = [429, 500]   # first record: 429, then 500, then success
    rc = main(["curate", "caption", str(src), "--out", str(tmp_path / "out"), "--captioner", "llm",
               "--endpoint", chat_server, "--model", "tiny-vlm", "--max-requests", "4", "-q"])
    assert rc == 0
    assert [s["auth"] for s in _Chat.seen] == [f"Bearer {key}"] * 4
    first = _Chat.seen[0]["body"]
    assert first["model"] == "tiny-vlm" and first["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    rows = read_manifest(tmp_path / "out").to_pylist()
    caps = [r["captions"][0] for r in rows]
    assert [c["status"] for c in caps] == ["ok", "ok", "error"]        # 3 + 1 requests: budget spent
    assert "request budget exhausted" in caps[2]["error"]
    assert caps[0]["endpoint"] == chat_server and caps[0]["prompt_version"] == "findings-only/1"
    assert {lab["finding"]: lab["state"] for lab in caps[0]["labels"]}["Effusion"] == "positive"
    for f in tmp_path.joinpath("out").rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f
    assert key not in capsys.readouterr().out
    # a re-run resumes: only the failed record is sent
    _Chat.seen = []
    assert main(["curate", "caption", str(src), "--out", str(tmp_path / "out"), "--captioner", "llm",
                 "--endpoint", chat_server, "--model", "tiny-vlm", "-q"]) == 0
    assert len(_Chat.seen) == 1
    assert [r["captions"][0]["status"] for r in read_manifest(tmp_path / "out").to_pylist()] == ["ok"] * 3


def test_llm_gives_up_on_client_errors_and_needs_endpoint(tmp_path, chat_server, monkeypatch):
    from medharvest.cli import main

    src = _manifest(tmp_path / "in", n=1)
    monkeypatch.delenv("MEDHARVEST_LLM_BASE_URL", raising=False)
    assert main(["curate", "caption", str(src), "--out", str(tmp_path / "o"), "--captioner", "llm", "--model", "m", "-q"]) == 2
    _Chat.script = [400]
    assert main(["curate", "caption", str(src), "--out", str(tmp_path / "o"), "--captioner", "llm",
                 "--endpoint", chat_server, "--model", "m", "-q"]) == 1
    cap = read_manifest(tmp_path / "o").to_pylist()[0]["captions"][0]
    assert cap["status"] == "error" and "HTTP 400" in cap["error"] and len(_Chat.seen) == 1

"""curate caption: template (NER reads the states back), an OpenAI-compatible loopback server (retries,
budget, key never written), resume, failures. The tiny random BLIP through the user path (unreadable
image, weights sha256, resume) is its case in the captioner contract test
(tests/curation/test_captioner_contract.py, tests/curation/caption_cases.py)."""

from __future__ import annotations


import pytest

from curation.caption.run import CaptionConfig, caption_run
from manifests.errors import UsageError
from manifests.io import read_manifest
from tests.curation.caption_cases import ChatHandler, manifest


def test_template_captions_read_back_and_resume(tmp_path):
    src = manifest(tmp_path / "in")
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
    src = manifest(tmp_path / "in")
    with pytest.raises(UsageError, match="did you mean 'blip'"):
        CaptionConfig(captioner="blpi")
    with pytest.raises(UsageError, match="needs --model"):
        caption_run(CaptionConfig(captioner="blip"), src, tmp_path / "o")
    with pytest.raises(UsageError, match="never edits its input"):
        caption_run(CaptionConfig(), src, tmp_path / "in")
    assert not (tmp_path / "o" / "manifest.parquet").exists()


def test_llm_retries_budget_and_key_never_written(tmp_path, chat_server, monkeypatch, capsys):
    from medharvest.cli import main

    src = manifest(tmp_path / "in", n=3)
    key = "sk-test-SECRET-123"
    monkeypatch.setenv("MEDHARVEST_LLM_API_KEY", key)
    ChatHandler.script = [429, 500]   # first record: 429, then 500, then success
    rc = main(["curate", "caption", str(src), "--out", str(tmp_path / "out"), "--captioner", "llm",
               "--endpoint", chat_server, "--model", "tiny-vlm", "--max-requests", "4", "-q"])
    assert rc == 0
    assert [s["auth"] for s in ChatHandler.seen] == [f"Bearer {key}"] * 4
    first = ChatHandler.seen[0]["body"]
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
    ChatHandler.seen = []
    assert main(["curate", "caption", str(src), "--out", str(tmp_path / "out"), "--captioner", "llm",
                 "--endpoint", chat_server, "--model", "tiny-vlm", "-q"]) == 0
    assert len(ChatHandler.seen) == 1
    assert [r["captions"][0]["status"] for r in read_manifest(tmp_path / "out").to_pylist()] == ["ok"] * 3


def test_llm_gives_up_on_client_errors_and_needs_endpoint(tmp_path, chat_server, monkeypatch):
    from medharvest.cli import main

    src = manifest(tmp_path / "in", n=1)
    monkeypatch.delenv("MEDHARVEST_LLM_BASE_URL", raising=False)
    assert main(["curate", "caption", str(src), "--out", str(tmp_path / "o"), "--captioner", "llm", "--model", "m", "-q"]) == 2
    ChatHandler.script = [400]
    assert main(["curate", "caption", str(src), "--out", str(tmp_path / "o"), "--captioner", "llm",
                 "--endpoint", chat_server, "--model", "m", "-q"]) == 1
    cap = read_manifest(tmp_path / "o").to_pylist()[0]["captions"][0]
    assert cap["status"] == "error" and "HTTP 400" in cap["error"] and len(ChatHandler.seen) == 1

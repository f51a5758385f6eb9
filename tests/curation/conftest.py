"""Fixtures the caption tests share: a tiny random BLIP checkpoint and a loopback chat server."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.curation.caption_cases import ChatHandler


@pytest.fixture(scope="session")
def tiny_blip(tmp_path_factory):
    """A randomly initialised BLIP captioning model + processor, saved with ``save_pretrained``."""
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


@pytest.fixture
def chat_server():
    """Base URL (``.../v1``) of a :class:`~tests.curation.caption_cases.ChatHandler` on 127.0.0.1."""
    ChatHandler.script, ChatHandler.seen = [], []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()

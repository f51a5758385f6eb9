"""Embedding agreement (optional): image-text cosine similarity from a CLIP-family model.

The way LAION / DataComp filter pairs: embed image and text with ``open_clip`` and flag
``low_similarity`` below ``clip_min_similarity``. Weights are local: ``--clip DIR`` is a directory
holding ``open_clip_config.json`` (``{"model_cfg": {...}, "preprocess_cfg": {...}}``, the format of
open_clip checkpoints on the Hugging Face hub, e.g. BiomedCLIP) and the weights
(``open_clip_pytorch_model.bin`` / ``.safetensors`` / ``.pt``), or a single ``.pt`` / ``.bin`` file next
to such a config. Nothing downloads: a text config that names a Hugging Face tokenizer must find it in
the local cache. The threshold depends on the model (0.28 is LAION's for OpenAI ViT-B/32); calibrate it
on pairs you trust.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from manifests.errors import UsageError

CONFIG = "open_clip_config.json"
WEIGHTS = ("open_clip_pytorch_model.bin", "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
           "model.pt", "model.bin")


class ClipScorer:
    def __init__(self, model, preprocess, tokenizer, *, name: str, weights_sha256: str, device):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.name, self.weights_sha256, self.device = name, weights_sha256, device

    @classmethod
    def from_dir(cls, path: str | Path, *, device: str | None = None) -> ClipScorer:
        import open_clip
        import torch
        from open_clip.factory import _MODEL_CONFIGS

        p = Path(path)
        folder = p if p.is_dir() else p.parent
        cfg_path = folder / CONFIG
        if not cfg_path.is_file():
            raise UsageError(f"--clip '{path}': no {CONFIG} in '{folder}'")
        weights = p if p.is_file() else next((folder / w for w in WEIGHTS if (folder / w).is_file()), None)
        if weights is None:
            raise UsageError(f"--clip '{path}': no weights file ({', '.join(WEIGHTS)})")
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        model_cfg = cfg.get("model_cfg") or cfg
        name = f"medharvest-local-{hashlib.sha256(cfg_path.read_bytes()).hexdigest()[:12]}"
        _MODEL_CONFIGS[name] = model_cfg
        pre = cfg.get("preprocess_cfg") or {}
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=str(weights), device=dev, image_mean=pre.get("mean"), image_std=pre.get("std"))
            tokenizer = open_clip.get_tokenizer(name)
        except (RuntimeError, OSError, KeyError, ValueError) as err:
            raise UsageError(f"cannot load the CLIP model from '{path}': {err}") from err
        h = hashlib.sha256()
        with open(weights, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return cls(model.eval(), preprocess, tokenizer, name=str(folder), weights_sha256=h.hexdigest(), device=dev)

    def similarity(self, image_paths: list[Path], texts: list[str], batch_size: int = 32) -> list[float]:
        """Cosine similarity of each (image, text) pair."""
        import torch
        from PIL import Image

        out: list[float] = []
        for k in range(0, len(texts), batch_size):
            ims = []
            for p in image_paths[k:k + batch_size]:
                with Image.open(p) as im:
                    ims.append(self.preprocess(im.convert("RGB")))
            x = torch.stack(ims).to(self.device)
            t = self.tokenizer(texts[k:k + batch_size]).to(self.device)
            with torch.inference_mode():
                a = torch.nn.functional.normalize(self.model.encode_image(x).float(), dim=-1)
                b = torch.nn.functional.normalize(self.model.encode_text(t).float(), dim=-1)
            out.extend((a * b).sum(-1).cpu().tolist())
        return out

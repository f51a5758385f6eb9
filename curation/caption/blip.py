"""``blip``: BLIP image captioning (Li et al., 2022) through ``transformers``.

``--model`` is a local directory written by ``save_pretrained`` (a ``BlipForConditionalGeneration``
checkpoint + its ``BlipProcessor``: image processor and tokenizer) or a hub id that is already in the
local Hugging Face cache, e.g. ``Salesforce/blip-image-captioning-base`` after a one-time
``huggingface-cli download`` -- nothing downloads at run time (``local_files_only``). Images are
captioned in batches (``batch_size``), on CUDA with fp16 autocast when a GPU is present (``device``
overrides). Provenance: the model id and one sha256 over its weight files.

A medical captioner is only as good as its weights: the general BLIP checkpoints describe a chest
radiograph as "a black and white photo of a chest x-ray"; point ``--model`` at a checkpoint
fine-tuned on radiology (e.g. on ROCO / MIMIC-CXR captions) for findings.
"""

from __future__ import annotations

from pathlib import Path

from curation.caption.base import CaptionFailure, CaptionInput, Captioner, sha256_files
from manifests.errors import UsageError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def resolve_model_dir(model: str) -> Path:
    """A local directory, or the cached snapshot of a hub id (never downloads)."""
    p = Path(model).expanduser()
    if p.is_dir():
        return p
    if p.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise UsageError(f"BLIP model '{model}' is neither a directory nor a hub id 'org/name'")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=True))
    except LocalEntryNotFoundError:
        raise UsageError(f"BLIP model '{model}' is not in the local Hugging Face cache; download it once "
                         f"(huggingface-cli download {model}) or pass a directory") from None


class BlipCaptioner(Captioner):
    name = "blip"
    prompt_version = "blip/1"

    def __init__(self, settings):
        super().__init__(settings)
        if not settings.model:
            raise UsageError("the blip captioner needs --model PATH|ORG/NAME (a BLIP captioning checkpoint)")
        self.model_dir = resolve_model_dir(settings.model)
        self.weights = [p for p in self.model_dir.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file()]
        if not self.weights:
            raise UsageError(f"BLIP model directory '{self.model_dir}' holds no weight file "
                             f"({', '.join(WEIGHT_SUFFIXES)})")
        self._sha = None
        self.model = self.processor = self.device = None

    def provenance(self) -> dict:
        if self._sha is None:
            self._sha = sha256_files(self.weights)
        return {"model": self.settings.model, "weights_sha256": self._sha, "endpoint": None,
                "prompt_version": self.prompt_version}

    def load(self) -> None:
        import torch
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.device = torch.device(self.settings.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        try:
            self.processor = BlipProcessor.from_pretrained(self.model_dir, local_files_only=True)
            self.model = BlipForConditionalGeneration.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot load BLIP from '{self.model_dir}': {err}") from err
        self.model.to(self.device).eval()

    def _images(self, items: list[CaptionInput]):
        from PIL import Image, UnidentifiedImageError

        imgs, bad = [], {}
        for i, it in enumerate(items):
            try:
                with Image.open(it.image) as im:
                    imgs.append(im.convert("RGB"))
            except (OSError, UnidentifiedImageError, TypeError) as err:
                bad[i] = CaptionFailure(f"cannot read image '{it.image}': {err}")
                imgs.append(None)
        return imgs, bad

    def caption_batch(self, items: list[CaptionInput]) -> list[str | CaptionFailure]:
        import torch

        imgs, bad = self._images(items)
        good = [i for i in range(len(items)) if i not in bad]
        out: list[str | CaptionFailure] = [bad.get(i) for i in range(len(items))]  # type: ignore[misc]
        if not good:
            return out
        inputs = self.processor(images=[imgs[i] for i in good], return_tensors="pt").to(self.device)
        amp = self.device.type == "cuda"
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.float16, enabled=amp):
            ids = self.model.generate(**inputs, max_new_tokens=self.settings.max_new_tokens)
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        for i, t in zip(good, texts):
            t = " ".join(t.split())
            out[i] = t if t else CaptionFailure("the model generated an empty caption")
        return out

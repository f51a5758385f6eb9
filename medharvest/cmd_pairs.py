"""``medharvest curate caption`` and ``curate consistency``: image-text pairs that agree.

* ``curate caption MANIFEST --out DIR [--captioner template|blip|llm] [--only-missing] [--model PATH|ID]``
  (:func:`curation.caption.run.caption_run`). For ``llm``: ``--endpoint URL`` (or
  ``MEDHARVEST_LLM_BASE_URL``), ``--model`` (or ``MEDHARVEST_LLM_MODEL``); the key only from
  ``MEDHARVEST_LLM_API_KEY`` / ``OPENAI_API_KEY`` (never a flag, never written anywhere).
* ``curate consistency MANIFEST --out DIR [--classifier CKPT] [--clip PATH]``
  (:func:`curation.consistency.run.consistency_run`); the classifier checkpoint (our ``classify``
  stage) is wired here, since curation may not import classify.

Registered by :mod:`medharvest.cmd_curate`. Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import os

LLM_ENV = {"endpoint": "MEDHARVEST_LLM_BASE_URL", "model": "MEDHARVEST_LLM_MODEL"}
KEY_ENV = ("MEDHARVEST_LLM_API_KEY", "OPENAI_API_KEY")


def register(csub) -> None:
    from curation.caption.base import captioners
    from medharvest.cli import add_common

    c = csub.add_parser("caption", help="add captions (text_kind=caption) to a manifest's images -> DIR/manifest.parquet")
    c.add_argument("manifest", metavar="MANIFEST")
    c.add_argument("--out", required=True, metavar="DIR")
    c.add_argument("--captioner", default=None, metavar="NAME", help=" | ".join(captioners()) + " (default: template)")
    c.add_argument("--only-missing", action="store_true", default=None, help="only records with no text and no caption")
    c.add_argument("--model", metavar="PATH|ID", help="blip: checkpoint dir or cached hub id; llm: model name")
    c.add_argument("--endpoint", metavar="URL", help="llm: OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    c.add_argument("--batch-size", type=int, metavar="N")
    c.add_argument("--device", metavar="DEV", help="blip: cuda | cpu (default: cuda when present)")
    c.add_argument("--max-requests", type=int, metavar="N", help="llm: request budget of the run (default 1000)")
    add_common(c)
    c.set_defaults(func=_caption)

    k = csub.add_parser("consistency", help="check that each image and its text agree -> DIR/manifest.parquet (consistency column)")
    k.add_argument("manifest", metavar="MANIFEST")
    k.add_argument("--out", required=True, metavar="DIR")
    k.add_argument("--classifier", metavar="CKPT", help="a `classify train` checkpoint (best.pt or its directory)")
    k.add_argument("--clip", metavar="PATH", help="open_clip weights: a directory with open_clip_config.json + weights")
    k.add_argument("--device", metavar="DEV")
    add_common(k)
    k.set_defaults(func=_consistency)


def _caption(args) -> int:
    from curation.caption.run import CaptionConfig, caption_run
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import progress, summary_table
    from medharvest.runinfo import write_run_json

    flags = {k: getattr(args, k) for k in ("captioner", "only_missing", "model", "endpoint", "batch_size", "device",
                                            "max_requests")}
    toml = load_toml(args.config, "curate.caption")
    if (flags["captioner"] or toml.get("captioner")) == "llm":
        for k, env in LLM_ENV.items():
            if flags[k] is None and not toml.get(k):
                flags[k] = os.environ.get(env) or None
    cfg = resolve(CaptionConfig, toml=toml, flags=flags)
    api_key = next((os.environ[k] for k in KEY_ENV if os.environ.get(k)), None)
    from curation.caption.base import get_captioner

    captioner = get_captioner(cfg.captioner)(cfg.settings(api_key))
    summary = caption_run(cfg, args.manifest, args.out, captioner=captioner,
                          progress=lambda it: progress(it, desc=f"caption ({cfg.captioner}, batches)", quiet=args.quiet),
                          before_stats=lambda s: write_run_json(args.out, "curate caption", as_dict(cfg), s))
    summary_table(f"curate caption -> {args.out}", {k: summary[k] for k in (
        "records", "captioner", "captioned", "reused", "caption_status", "skipped", "captions_per_s", "seconds")},
        quiet=args.quiet)
    st = summary["caption_status"]
    return 1 if summary["captioned"] and not st.get("ok") else 0


def classifier_provider(checkpoint: str, device: str | None = None):
    """A :class:`curation.consistency.labels.ProbabilityProvider` over a ``classify`` checkpoint."""
    import numpy as np
    import torch

    from classify.evaluate import load_classifier
    from training.dataset_view import decode_image

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, ck = load_classifier(checkpoint, dev)
    size, multi = int(ck["size"]), bool(ck["multi_label"])

    def probs(paths: list) -> np.ndarray:
        from classify.data import MEAN, STD

        out = []
        for k in range(0, len(paths), 64):
            x = np.stack([decode_image(str(p), size) for p in paths[k:k + 64]]).astype(np.float32)
            t = torch.from_numpy(x).div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1).to(dev)
            with torch.inference_mode():
                logits = model(t)
            p = torch.sigmoid(logits) if multi else torch.softmax(logits, dim=1)
            out.append(p.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(ck["classes"])), np.float32)

    from curation.consistency.labels import ProbabilityProvider

    return ProbabilityProvider(classes=tuple(ck["classes"]), multi_label=multi, predict=probs,
                               name=f"classify:{ck['arch']}@{os.path.abspath(checkpoint)}")


def _consistency(args) -> int:
    from curation.consistency.run import ConsistencyConfig, consistency_run
    from manifests.errors import UsageError
    from medharvest.config import as_dict, load_toml, resolve
    from medharvest.output import summary_table
    from medharvest.runinfo import write_run_json

    cfg = resolve(ConsistencyConfig, toml=load_toml(args.config, "curate.consistency"), flags={})
    if args.classifier and not os.path.exists(args.classifier):
        raise UsageError(f"classifier checkpoint '{args.classifier}' does not exist")
    provider = classifier_provider(args.classifier, args.device) if args.classifier else None
    clip = None
    if args.clip:
        from curation.consistency.embedding import ClipScorer

        clip = ClipScorer.from_dir(args.clip, device=args.device)
    summary = consistency_run(cfg, args.manifest, args.out, probabilities=provider, clip=clip,
                              before_stats=lambda s: write_run_json(args.out, "curate consistency",
                                                                    {**as_dict(cfg), "classifier": args.classifier,
                                                                     "clip": args.clip}, s))
    summary_table(f"curate consistency -> {args.out}", {k: summary[k] for k in (
        "records", "checked", "flagged", "checks", "flags", "records_per_s", "seconds")}, quiet=args.quiet)
    return 0

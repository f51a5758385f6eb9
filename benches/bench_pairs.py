"""Image-text pairs: captions/s (template; tiny random BLIP on CPU), consistency records/s, and the
planted-pair recall / false-flag rate on the generated sample.

    uv run python benches/bench_pairs.py [--n 400] [--pairs 120] [--seed 0] [--out DIR] [--skip-blip]

Steps: ``medharvest sample`` (n items) -> ``curate run --no-ocr`` -> split; the planted-pairs store
(crawlers/sample/pairs.py) -> curate -> template captions for its image-only records -> a small
``classify`` model on the sample's train split -> ``curate consistency`` on both manifests
(medharvest/pairs_demo.py, the demo's own step). Targets: recall >= 0.9, <= 5 % clean pairs flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def tiny_blip(d: Path) -> Path:
    import torch
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"] + [f"w{i}" for i in range(200)]
    d.mkdir(parents=True, exist_ok=True)
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 64, "width": 64}),
                         tokenizer=BertTokenizer(str(d / "vocab.txt"), bos_token="[DEC]"))
    cfg = BlipConfig(text_config={"vocab_size": len(words), "hidden_size": 64, "num_hidden_layers": 2,
                                  "num_attention_heads": 2, "intermediate_size": 128, "encoder_hidden_size": 64,
                                  "bos_token_id": 5, "pad_token_id": 0, "sep_token_id": 3, "eos_token_id": 3},
                     vision_config={"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                                    "intermediate_size": 128, "image_size": 64, "patch_size": 16}, projection_dim=64)
    torch.manual_seed(0)
    m = BlipForConditionalGeneration(cfg)
    m.generation_config.min_new_tokens = 8
    m.save_pretrained(d / "model")
    proc.save_pretrained(d / "model")
    return d / "model"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--pairs", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--skip-blip", action="store_true")
    args = ap.parse_args(argv)

    from crawlers.sample.generator import SampleConfig, generate
    from curation.caption.run import CaptionConfig, caption_run
    from curation.pipeline import CurateConfig, curate_run
    from manifests.ops import split
    from medharvest.pairs_demo import run_pairs

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_pairs_"))
    generate(SampleConfig(n=args.n, seed=args.seed), out / "data")
    curate_run(CurateConfig(ocr=False), [out / "data"], out / "curated")
    main_manifest, _ = split.split_file(out / "curated" / "manifest.parquet", out / "manifest" / "manifest.parquet",
                                        split.SplitConfig(seed=args.seed))
    t = time.perf_counter()
    s = caption_run(CaptionConfig(captioner="template"), main_manifest, out / "captions_template")
    print(f"template captions: {s['captioned']} records, {s['captions_per_s']:,.0f} captions/s (captioner only), "
          f"{s['captioned'] / (time.perf_counter() - t):,.0f} captions/s incl. scrub + NER + write")
    if not args.skip_blip:
        model = tiny_blip(out / "blip")
        cfg = CaptionConfig(captioner="blip", model=str(model), batch_size=16, max_new_tokens=16, device="cpu")
        t = time.perf_counter()
        s = caption_run(cfg, main_manifest, out / "captions_blip")
        print(f"tiny random BLIP on CPU (64 px, 2+2 layers, 16 new tokens, batch 16): {s['captioned']} records, "
              f"{s['captions_per_s']:,.1f} captions/s (model only), {s['captioned'] / (time.perf_counter() - t):,.1f} incl. NER")
    p = run_pairs(out / "pairs", main_manifest, n=args.pairs, seed=args.seed, quiet=True)
    print(f"consistency: {p['consistency_records_per_s']:,.0f} records/s with the classifier label check "
          f"(structured + labels, CPU)")
    print(f"planted inconsistent pairs found: {p['planted_found']}/{p['planted']} (recall {p['recall']:.3f}); "
          f"clean pairs flagged: {p['clean_flagged']}/{p['clean']} (false-flag rate {p['false_flag_rate']:.3f})")
    print("by kind: " + json.dumps(p["by_kind"]))
    print(f"(output in {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run by ``torchrun --nproc_per_node 2`` in tests: train a few steps, write this rank's summary.

Usage: ddp_worker.py gan|classify MANIFEST OUT
"""

import json
import sys
from pathlib import Path

import torch


def main() -> None:
    kind, manifest, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    torch.set_num_threads(1)
    if kind == "gan":
        from gan.train import GanConfig, train_gan

        s = train_gan(GanConfig(epochs=1, size=32, batch_size=8, z_dim=16, g_ch=8, d_ch=8, quiet=True), manifest, out)
    else:
        from classify.train import ClassifyConfig, train_classifier

        s = train_classifier(ClassifyConfig(epochs=2, batch_size=8, size=32, quiet=True, augment="classic"), manifest, out)
    import torch.distributed as dist

    (out.parent / f"{kind}_rank{s['rank']}.json").write_text(json.dumps(s))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

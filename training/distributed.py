"""torchrun / DistributedDataParallel plumbing shared by both trainers (gan/, classify/), plus their weight EMA.

One process per device, rank 0 writes. Only the trainers import this module (it imports torch);
it lives in the hub because the two spokes may not import each other.

Under ``torchrun --nproc_per_node N`` the environment carries ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
:func:`setup` then joins the process group (NCCL on GPU, gloo on CPU). Without it, a single process.
Several machines: run on each, with the manifest (one file or ``manifest.parquet/part-*.parquet``)
on storage they all see, ``torchrun --nnodes N --nproc_per_node G --rdzv_backend c10d
--rdzv_endpoint HEAD:29500 --rdzv_id JOB -m medharvest gan train ...``; ``RANK`` is then global and
``LOCAL_RANK`` picks the device (tested with two CPU "nodes": ``tests/gan/test_distributed.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def amp(self) -> bool:
        return self.device.type == "cuda"


#: CPU threads per process unless ``threads`` is given. On this project's 2-core CPU, torch's intra-op
#: threads made the small 64-px nets slower, not faster (dcgan ch16: 105 img/s with 1 thread vs 23
#: with 2, idle CPU; ~10x worse when the CPU is busy); parallelism comes from processes instead (DDP
#: ranks, or the study's seed workers). A fixed default, not a probe of the machine.
DEFAULT_THREADS = 1


def setup(device: str | None = None, threads: int | None = None) -> Dist:
    """Join the process group when launched by torchrun; pick CUDA when present (or ``device``).

    ``threads``: torch CPU threads (None: :data:`DEFAULT_THREADS`).
    """
    torch.set_num_threads(threads or DEFAULT_THREADS)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank=rank, world=world, device=dev)


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def autocast(d: Dist):
    """Mixed precision on CUDA (float16 autocast); a no-op context on CPU."""
    if d.amp:
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def wrap(model: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """DDP-wrap ``model`` when running distributed (parameters are broadcast from rank 0)."""
    if d.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


def no_sync(model: torch.nn.Module):
    """Skip DDP's gradient all-reduce (the GAN trainer's throw-away discriminator grads in the G step)."""
    return model.no_sync() if hasattr(model, "no_sync") else contextlib.nullcontext()


def sync_buffers(model: torch.nn.Module, d: Dist) -> None:
    """Copy rank 0's buffers (BatchNorm running stats) to every rank, so evaluation agrees."""
    if d.world == 1:
        return
    for b in unwrap(model).buffers():
        dist.broadcast(b.data, src=0)


def all_agree(flag: bool, d: Dist) -> bool:
    """True on every rank iff rank 0 says True (decisions such as early stopping)."""
    if d.world == 1:
        return flag
    t = torch.tensor([1 if flag else 0], device=d.device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def all_mean(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """The mean of ``t`` over ranks (itself when not distributed): running statistics every rank shares."""
    if d.world == 1:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / d.world


def weights_digest(*models: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (key order): equal on all ranks iff they agree."""
    import hashlib

    h = hashlib.sha256()
    for m in models:
        for k, v in sorted(unwrap(m).state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, *, average_buffers: bool = False) -> None:
    """Exponential moving average of weights: ema <- decay * ema + (1 - decay) * model.

    Buffers are copied from ``model``, or with ``average_buffers`` the floating ones (BatchNorm
    statistics) are averaged too and the rest copied. Shared by the GAN (EMA generator) and the
    classifier (weight averaging).
    """
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        if average_buffers and be.dtype.is_floating_point:
            be.lerp_(bm, 1.0 - decay)
        else:
            be.copy_(bm)

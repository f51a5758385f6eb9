"""Train a class-conditional GAN on a manifest's train split (hinge loss, DiffAugment, EMA generator).

Conditioning: conditional BN in G, projection D, class-balanced real batches (``balanced``), and with
``aux_weight`` > 0 an AC-GAN term (Odena et al. 2017): D gets a class head trained with cross-entropy
on real rows only, and G is also penalised when that head does not recognise a fake as its class.
The projection term alone let G ignore y on chest X-rays (every row of the class grid alike).
Against mode collapse inside a class (G ignoring z: every column of a grid row alike), ``mbstd``
adds a minibatch-std layer to D (Karras et al. 2018) and ``ms_weight`` > 0 a mode-seeking term
(Mao et al. 2019) on pairs of same-class fakes. ``lecam_weight`` > 0 adds the LeCam regulariser
(Tseng et al. 2021, made for limited data): D's outputs on real rows are pulled towards the moving
average of its outputs on fakes and vice versa, so D cannot drift far apart on a small train set.

Writes into ``out``: ``checkpoint.pt`` (latest epoch: G, D, EMA-G, optimizers, AMP scalers, RNG
states, epoch/step), ``losses.jsonl`` (one line per step), ``samples/epoch_NNNN.png`` (a grid from the
EMA generator, one row per class), ``stats.json`` last. ``resume=True`` continues from the checkpoint
and reproduces an uninterrupted run exactly (every epoch's order and noise derive from seed+epoch).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan import checkpoint as ckpt
from training import distributed
from gan.diffaug import diff_augment, parse_policy
from gan.registry import ARCHITECTURES, build
from training.dataset_view import balanced_weights, decode_images, epoch_indices, load_view
from manifests.errors import UsageError
from manifests.io import write_json_atomic
from manifests.registry import lookup

STAGE_VERSION = "gan.train/1"
#: Config fields that may differ between a run and its resume.
_RESUMABLE = {"epochs", "resume", "quiet", "device", "threads"}


@dataclasses.dataclass(frozen=True)
class GanConfig:
    arch: str = "dcgan"
    size: int = 64
    epochs: int = 20
    batch_size: int = 32
    z_dim: int = 64
    g_ch: int = 16
    d_ch: int = 16
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    diffaug: str = "translation,cutout,brightness"
    diffaug_strength: float = 1.0
    ema_decay: float = 0.999
    aux_weight: float = 0.0
    mbstd: bool = False
    ms_weight: float = 0.0
    lecam_weight: float = 0.0
    lecam_decay: float = 0.99
    balanced: bool = True
    classes: tuple[str, ...] | None = None
    min_count: int = 1
    seed: int = 0
    resume: bool = False
    quiet: bool = False
    device: str | None = None
    threads: int | None = None
    checkpoint_every: int = 1       # epochs between checkpoints + sample grids (the last epoch always)

    def __post_init__(self):
        lookup(ARCHITECTURES, self.arch, "GAN architecture")
        if self.checkpoint_every < 1:
            raise UsageError(f"checkpoint_every {self.checkpoint_every} must be >= 1")
        parse_policy(self.diffaug)
        if self.size not in (32, 64, 128):
            raise UsageError(f"--size {self.size} must be 32, 64 or 128")
        if self.epochs < 1 or self.batch_size < 2:
            raise UsageError("epochs must be >= 1 and batch size >= 2")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UsageError(f"ema_decay {self.ema_decay} must be in [0, 1)")
        if self.aux_weight < 0 or self.ms_weight < 0 or self.lecam_weight < 0:
            raise UsageError(f"aux_weight {self.aux_weight}, ms_weight {self.ms_weight} and lecam_weight "
                             f"{self.lecam_weight} must be >= 0")
        if not 0.0 <= self.lecam_decay < 1.0:
            raise UsageError(f"lecam_decay {self.lecam_decay} must be in [0, 1)")


def _seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    s = (seed * 1_000_003 + epoch * 997 + rank) % (2**31)
    torch.manual_seed(s)
    random.seed(s)
    np.random.seed(s)


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, S, S) -> float (B, 1, S, S) in [-1, 1]."""
    return x.float().unsqueeze(1).div(127.5).sub(1.0)


def mode_seeking_loss(x1: torch.Tensor, x2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                      eps: float = 1e-5) -> torch.Tensor:
    """Mode seeking term (Mao et al., CVPR 2019): 1 / (mean |x1 - x2| / mean |z1 - z2|) for pairs of
    fakes of the same class. Minimising it pushes G to map different z to different images."""
    ratio = (x1 - x2).abs().mean() / (z1 - z2).abs().mean().clamp(min=eps)
    return 1.0 / (ratio + eps)


def lecam_loss(d_real: torch.Tensor, d_fake: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """LeCam regulariser (Tseng et al., CVPR 2021, their reference form): mean relu(D(real) - a_fake)^2
    + mean relu(a_real - D(fake))^2, ``anchors`` = (a_real, a_fake), moving averages of D's outputs."""
    return F.relu(d_real - anchors[1]).pow(2).mean() + F.relu(anchors[0] - d_fake).pow(2).mean()


@torch.no_grad()
def recalibrate_bn(g: torch.nn.Module, n_classes: int, *, batches: int = 8, batch: int = 64, seed: int = 0) -> None:
    """"Standing statistics": BN running stats of the EMA generator from its own outputs."""
    gen = torch.Generator().manual_seed(seed)
    dev = next(g.parameters()).device
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    g.train()
    for _ in range(batches):
        z = torch.randn(batch, g.z_dim, generator=gen).to(dev)
        y = torch.randint(0, n_classes, (batch,), generator=gen).to(dev)
        g(z, y)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    g.eval()


@torch.no_grad()
def sample_grid(g: torch.nn.Module, n_classes: int, path: Path, *, per_class: int = 8, seed: int = 0) -> Path:
    from PIL import Image
    from torchvision.utils import make_grid

    gen = torch.Generator().manual_seed(seed)
    dev = next(g.parameters()).device
    z = torch.randn(per_class, g.z_dim, generator=gen).repeat(n_classes, 1).to(dev)
    y = torch.arange(n_classes).repeat_interleave(per_class).to(dev)
    x = g(z, y).float().cpu()
    grid = make_grid(x, nrow=per_class, normalize=True, value_range=(-1, 1), pad_value=1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((grid[0].numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def train_gan(cfg: GanConfig, manifest: str | Path, out: str | Path) -> dict:
    """Train (or resume) and return a summary dict."""
    out = Path(out)
    d = distributed.setup(cfg.device, cfg.threads)
    view = load_view(manifest, classes=cfg.classes, min_count=cfg.min_count)
    train = view.split("train")
    train = train.subset(~train.synthetic)
    assert (train.splits == "train").all(), "only train rows may reach the GAN trainer"
    if len(train) < cfg.batch_size:
        raise UsageError(f"only {len(train)} real train rows: fewer than the batch size {cfg.batch_size}")
    n_classes = len(view.classes)
    ck_path = out / ckpt.CHECKPOINT_NAME
    state = None
    if ck_path.exists():
        if not cfg.resume:
            raise UsageError(f"'{out}' already holds a checkpoint; pass --resume to continue or choose a new --out")
        state = ckpt.load(ck_path)
        diff = {k for k, v in dataclasses.asdict(cfg).items()
                if k not in _RESUMABLE and _norm(state["config"].get(k)) != _norm(v)}
        if diff or list(state["classes"]) != list(view.classes):
            raise UsageError(f"cannot resume '{out}': settings differ ({sorted(diff) or 'classes'})")

    _seed_epoch(cfg.seed, 0)
    g, dnet = build(cfg.arch, n_classes=n_classes, size=cfg.size, z_dim=cfg.z_dim, g_ch=cfg.g_ch, d_ch=cfg.d_ch,
                    aux=cfg.aux_weight > 0, mbstd=cfg.mbstd)
    g_ema = copy.deepcopy(g)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(dnet.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    scaler_g = torch.amp.GradScaler(enabled=d.amp)
    scaler_d = torch.amp.GradScaler(enabled=d.amp)
    start_epoch, step = 0, 0
    anchors = torch.zeros(2)      # LeCam: moving averages of D's mean output on real, on fake rows
    if state is not None:
        g.load_state_dict(state["g"])
        dnet.load_state_dict(state["d"])
        g_ema.load_state_dict(state["g_ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        scaler_g.load_state_dict(state["scaler_g"])
        scaler_d.load_state_dict(state["scaler_d"])
        start_epoch, step = state["epoch"], state["step"]
        anchors = state.get("lecam_anchors", anchors).clone()
    anchors = anchors.to(d.device)
    g, dnet, g_ema = g.to(d.device), dnet.to(d.device), g_ema.to(d.device)
    for opt in (opt_g, opt_d):   # optimizer state follows the parameters' device
        for s in opt.state.values():
            for k, v in s.items():
                if torch.is_tensor(v) and k != "step":
                    s[k] = v.to(d.device)
    g_train, d_train = distributed.wrap(g, d), distributed.wrap(dnet, d)

    images = torch.from_numpy(decode_images(train.paths, cfg.size))
    labels = torch.from_numpy(train.targets)
    weights = balanced_weights(train.targets, n_classes) if cfg.balanced else None
    policy = parse_policy(cfg.diffaug)
    per_rank = max(1, cfg.batch_size // d.world)
    steps_per_epoch = len(train) // cfg.batch_size
    log_path = out / "losses.jsonl"
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        _truncate_log(log_path, start_epoch)

    from tqdm import tqdm

    bar = tqdm(total=(cfg.epochs - start_epoch) * steps_per_epoch, desc="gan", unit="step", leave=False,
               disable=cfg.quiet or not d.is_main)
    last: dict = {}
    for epoch in range(start_epoch, cfg.epochs):
        _seed_epoch(cfg.seed, epoch + 1, d.rank)
        order = epoch_indices(len(train), seed=cfg.seed, epoch=epoch, weights=weights,
                              num_samples=steps_per_epoch * cfg.batch_size, rank=d.rank, world=d.world)
        lines = []
        for i in range(steps_per_epoch):
            idx = torch.from_numpy(order[i * per_rank:(i + 1) * per_rank])
            real = _to_unit(images[idx]).to(d.device)
            y = labels[idx].to(d.device)
            z = torch.randn(len(idx), cfg.z_dim).to(d.device)
            y_fake = torch.randint(0, n_classes, (len(idx),)).to(d.device)
            # discriminator step: real and fake in one forward (one DDP reduction)
            with distributed.autocast(d):
                with torch.no_grad():
                    fake = g_train(z, y_fake)
                both = diff_augment(torch.cat([real, fake.float()]), policy, cfg.diffaug_strength)
                logits, cls = d_train(both, torch.cat([y, y_fake]))
                d_real, d_fake = logits.float()[: len(idx)], logits.float()[len(idx):]
                loss_d = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
                if cls is not None:   # AC-GAN term: D's class head learns the classes of REAL rows only
                    loss_cls_d = F.cross_entropy(cls[: len(idx)].float(), y)
                    loss_d = loss_d + cfg.aux_weight * loss_cls_d
                if cfg.lecam_weight > 0:
                    loss_lecam = lecam_loss(d_real, d_fake, anchors)
                    loss_d = loss_d + cfg.lecam_weight * loss_lecam
            if cfg.lecam_weight > 0:
                means = distributed.all_mean(torch.stack([d_real.detach().mean(), d_fake.detach().mean()]), d)
                anchors.mul_(cfg.lecam_decay).add_(means, alpha=1.0 - cfg.lecam_decay)
            opt_d.zero_grad(set_to_none=True)
            scaler_d.scale(loss_d).backward()
            scaler_d.step(opt_d)
            scaler_d.update()
            # generator step (D's grads here are local and discarded)
            z = torch.randn(len(idx), cfg.z_dim).to(d.device)
            y_fake = torch.randint(0, n_classes, (len(idx),)).to(d.device)
            half = len(idx) // 2
            use_ms = cfg.ms_weight > 0 and half > 0   # a 1-row batch (per rank) has no pair
            if use_ms:    # mode seeking pairs: rows i and half + i share a class, not a z
                y_fake[half: 2 * half] = y_fake[:half]
            with distributed.no_sync(d_train), distributed.autocast(d):
                fake = g_train(z, y_fake)
                logits, cls = d_train(diff_augment(fake.float(), policy, cfg.diffaug_strength), y_fake)
                loss_g = -logits.float().mean()
                if cls is not None:   # ... and G must make fakes that head recognises as their class
                    loss_cls_g = F.cross_entropy(cls.float(), y_fake)
                    loss_g = loss_g + cfg.aux_weight * loss_cls_g
                if use_ms:
                    loss_ms = mode_seeking_loss(fake[:half].float(), fake[half: 2 * half].float(),
                                                z[:half], z[half: 2 * half])
                    loss_g = loss_g + cfg.ms_weight * loss_ms
            opt_g.zero_grad(set_to_none=True)
            scaler_g.scale(loss_g).backward()
            scaler_g.step(opt_g)
            scaler_g.update()
            distributed.ema_update(g_ema, distributed.unwrap(g_train), cfg.ema_decay if step > 0 else 0.0)
            step += 1
            last = {"epoch": epoch + 1, "step": step, "d_loss": float(loss_d.detach()), "g_loss": float(loss_g.detach()),
                    "d_real": float(d_real.detach().mean()), "d_fake": float(d_fake.detach().mean())}
            if cls is not None:
                last.update(cls_d=float(loss_cls_d.detach()), cls_g=float(loss_cls_g.detach()))
            if use_ms:
                last.update(ms=float(loss_ms.detach()))
            if cfg.lecam_weight > 0:
                last.update(lecam=float(loss_lecam.detach()))
            lines.append(json.dumps(last))
            bar.update(1)
            bar.set_postfix(d=f"{last['d_loss']:.3f}", g=f"{last['g_loss']:.3f}")
        for m in (g_train, d_train, g_ema):
            distributed.sync_buffers(m, d)
        if d.is_main:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
        if d.is_main and ((epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs):
            shown = copy.deepcopy(g_ema)
            recalibrate_bn(shown, n_classes, seed=cfg.seed)
            sample_grid(shown, n_classes, out / "samples" / f"epoch_{epoch + 1:04d}.png", seed=cfg.seed)
            ckpt.save({
                "format": ckpt.FORMAT, "config": _cfg_dict(cfg), "classes": list(view.classes),
                "epoch": epoch + 1, "step": step,
                "g": distributed.unwrap(g_train).state_dict(), "d": distributed.unwrap(d_train).state_dict(),
                "g_ema": shown.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "scaler_g": scaler_g.state_dict(), "scaler_d": scaler_d.state_dict(), "rng": _rng_state(),
                "lecam_anchors": anchors.detach().cpu(),
                "class_counts": train.class_counts().tolist(), "manifest": str(manifest),
                "stage_version": STAGE_VERSION,
            }, ck_path)
        distributed.barrier(d)
    bar.close()
    summary = {"epochs": cfg.epochs, "resumed_from_epoch": start_epoch, "steps": step, "world_size": d.world,
               "train_rows": len(train), "classes": list(view.classes),
               "class_counts": dict(zip(view.classes, train.class_counts().tolist())),
               "final": last, "checkpoint": str(ck_path), "device": str(d.device),
               "weights_sha256": distributed.weights_digest(g_train, d_train, g_ema), "rank": d.rank}
    if d.is_main:
        write_json_atomic(out / "stats.json", summary)
    return summary


def _norm(v):
    return list(v) if isinstance(v, (tuple, list)) else v


def _cfg_dict(cfg: GanConfig) -> dict:
    return {k: _norm(v) for k, v in dataclasses.asdict(cfg).items()}


def _truncate_log(path: Path, epoch: int) -> None:
    """Keep only log lines of epochs <= ``epoch`` (what the checkpoint holds)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and json.loads(ln)["epoch"] <= epoch]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")

"""Train a classifier on a manifest (train split; early stopping on val macro AUROC).

Writes into ``out``: ``best.pt`` (weights of the best val epoch + everything :mod:`classify.evaluate`
needs), ``last.pt`` (+ optimizer, RNG, epoch: ``resume=True`` continues exactly), ``history.jsonl``
(one line per epoch), ``stats.json`` last. Synthetic rows are training data only: a manifest with a
synthetic row in val or test is refused (:meth:`training.dataset_view.View.assert_no_synthetic_in_eval`).

``ema_decay`` > 0 keeps an exponential moving average of the weights (and BN statistics) and
validates, selects and saves that averaged model (Polyak averaging: a steadier model on small,
noisy val sets). ``select_on="loss"`` stops on mean val cross-entropy instead of val macro AUROC,
which on a val split with one or two positives per class is far less jumpy.

Augmentation policies (:mod:`classify.policies`): ``none``, ``classic`` (batch affine + intensity),
``oversample`` (class-balanced sampling with replacement). GAN augmentation is a manifest that already
holds synthetic train rows (the ``gan`` policy: the CLI's ``--augment gan:CHECKPOINT`` samples and
merges them first).

Synthetic train rows can count for less than real ones: ``synthetic_weight`` scales their loss
(0 ignores them), ``synthetic_smoothing`` = e trains them on (1 - e) x their class + e spread over
all classes (single-label; e = 1 is LSRO, Zheng et al. 2017: a generated image teaches "not sure").
Both are the usual guards against a generator whose images do not quite show their class.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training import distributed
from classify import policies
from classify.data import ManifestDataset
from classify.metrics import compute
from classify.models import BACKBONES, build, load_pretrained
from training.dataset_view import balanced_weights, epoch_indices, load_view
from manifests.errors import UsageError
from manifests.io import atomic_path, write_json_atomic
from manifests.registry import lookup

FORMAT = "medharvest-classifier/1"
STAGE_VERSION = "classify.train/1"
#: Early stopping / best-epoch metric on val: macro AUROC (higher is better), mean loss (lower is
#: better), or ``last``: no val-based selection at all, the model after the last epoch is kept.
SELECT_ON = ("auroc", "loss", "last")


@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
    arch: str = "small-cnn"
    augment: str = "none"
    multi_label: bool = False
    epochs: int = 20
    patience: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    class_weighted: bool = False
    synthetic_weight: float = 1.0
    synthetic_smoothing: float = 0.0
    ema_decay: float = 0.0
    select_on: str = "auroc"
    size: int = 64
    classes: tuple[str, ...] | None = None
    min_count: int = 1
    steps_per_epoch: int | None = None
    pretrained: str | None = None
    seed: int = 0
    resume: bool = False
    quiet: bool = False
    device: str | None = None
    threads: int | None = None

    def __post_init__(self):
        lookup(BACKBONES, self.arch, "backbone")
        policies.trainer_policy(self.augment)
        if self.epochs < 1 or self.batch_size < 2 or self.patience < 1:
            raise UsageError("epochs and patience must be >= 1 and batch size >= 2")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UsageError(f"ema_decay {self.ema_decay} must be in [0, 1)")
        lookup({k: k for k in SELECT_ON}, self.select_on, "model selection metric")
        if self.synthetic_weight < 0 or not 0.0 <= self.synthetic_smoothing <= 1.0:
            raise UsageError(f"synthetic_weight {self.synthetic_weight} must be >= 0 and synthetic_smoothing "
                             f"{self.synthetic_smoothing} in [0, 1]")


def train_loss(logits: torch.Tensor, y: torch.Tensor, synthetic: torch.Tensor, *, multi_label: bool,
               weight: torch.Tensor | None = None, synthetic_weight: float = 1.0,
               synthetic_smoothing: float = 0.0) -> torch.Tensor:
    """Mean per-row loss; synthetic rows weighted by ``synthetic_weight`` and (single-label) label-smoothed."""
    if multi_label:
        per_row = F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight, reduction="none").mean(dim=1)
    elif synthetic_smoothing > 0 and bool(synthetic.any()):
        n = logits.shape[1]
        eps = synthetic.to(logits.dtype) * synthetic_smoothing
        target = F.one_hot(y, n).to(logits.dtype) * (1 - eps[:, None]) + eps[:, None] / n
        logp = logits.log_softmax(dim=1)
        per_row = -(target * (logp if weight is None else logp * weight)).sum(dim=1)
    else:
        per_row = F.cross_entropy(logits, y, weight=weight, reduction="none")
    if weight is not None and not multi_label:     # same normalisation as cross_entropy(weight=...)
        row_w = weight[y]
        scale = torch.where(synthetic, synthetic_weight, 1.0).to(logits.dtype)
        return (per_row * scale).sum() / row_w.sum()
    if synthetic_weight != 1.0:
        per_row = per_row * torch.where(synthetic, synthetic_weight, 1.0).to(logits.dtype)
    return per_row.mean()


def _seed(seed: int, epoch: int, rank: int = 0) -> None:
    s = (seed * 1_000_003 + epoch * 997 + rank) % (2**31)
    torch.manual_seed(s)
    random.seed(s)
    np.random.seed(s)


def class_weights(view, n_classes: int) -> torch.Tensor:
    counts = torch.as_tensor(view.class_counts(), dtype=torch.float32).clamp(min=1)
    if view.multi_label:
        return ((len(view) - counts) / counts).clamp(max=100.0)    # BCE pos_weight
    return len(view) / (n_classes * counts)


@torch.no_grad()
def predict(model: torch.nn.Module, ds: ManifestDataset, *, multi_label: bool, device: torch.device,
            batch: int = 256) -> np.ndarray:
    """Probabilities (N, C): softmax (single-label) or sigmoid (multi-label)."""
    model.eval()
    out = []
    xs, _ = ds.tensors()
    for start in range(0, len(ds), batch):
        x = xs[start:start + batch].to(device)
        logits = model(x).float()
        out.append((torch.sigmoid(logits) if multi_label else logits.softmax(dim=1)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.head.out_features), np.float32)


def _val_loss(probs: np.ndarray, targets: np.ndarray, *, multi_label: bool) -> float:
    """Mean cross-entropy (softmax) or binary cross-entropy (multi-label) of val probabilities."""
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    if multi_label:
        t = targets.astype(np.float64)
        return float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(targets)), targets.astype(np.int64)]).mean())


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path, ".pt") as tmp:
        torch.save(obj, tmp)


def train_classifier(cfg: ClassifyConfig, manifest: str | Path, out: str | Path) -> dict:
    out = Path(out)
    d = distributed.setup(cfg.device, cfg.threads)
    view = load_view(manifest, classes=cfg.classes, multi_label=cfg.multi_label, min_count=cfg.min_count)
    view.assert_no_synthetic_in_eval()
    train, val = view.split("train"), view.split("val")
    assert set(train.splits) <= {"train"} and set(val.splits) <= {"val"}
    if len(train) < 2 or len(val) < 1:
        raise UsageError(f"need train and val rows; got {len(train)} train, {len(val)} val")
    n_classes = len(view.classes)
    ds_train, ds_val = ManifestDataset(train, size=cfg.size), ManifestDataset(val, size=cfg.size)
    x_train, y_train = ds_train.tensors()     # decoded once; batches are index lookups
    syn_train = torch.from_numpy(train.synthetic.copy())

    _seed(cfg.seed, 0)
    model = build(cfg.arch, n_classes=n_classes)
    pretrained_info = load_pretrained(model, cfg.pretrained) if cfg.pretrained else None
    model.to(d.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler(enabled=d.amp)
    weight = class_weights(train, n_classes).to(d.device) if cfg.class_weighted else None
    start, best_metric, best_epoch, bad_epochs, history = 0, -float("inf"), 0, 0, []
    last_path, best_path = out / "last.pt", out / "best.pt"
    if last_path.exists():
        if not cfg.resume:
            raise UsageError(f"'{out}' already holds a classifier run; pass --resume or choose a new --out")
        st = torch.load(last_path, map_location=d.device, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        scaler.load_state_dict(st["scaler"])
        start, best_metric, best_epoch, bad_epochs = st["epoch"], st["best_metric"], st["best_epoch"], st["bad_epochs"]
        history = st["history"]
    ema = None
    if cfg.ema_decay > 0:
        import copy

        ema = copy.deepcopy(model)
        if last_path.exists() and "ema" in st:
            ema.load_state_dict(st["ema"])
        ema.requires_grad_(False)
    shown = ema if ema is not None else model    # the model that is validated, selected and saved
    net = distributed.wrap(model, d)
    pol = policies.trainer_policy(cfg.augment)
    weights = None
    if pol.balanced_sampling:
        weights = (balanced_weights(train.targets, n_classes) if not cfg.multi_label
                   else 1.0 / np.maximum((train.targets * train.class_counts()).max(axis=1), 1.0))
    steps = cfg.steps_per_epoch or max(1, len(train) // cfg.batch_size)
    per_rank = max(1, cfg.batch_size // d.world)
    base = {"format": FORMAT, "arch": cfg.arch, "classes": list(view.classes), "multi_label": cfg.multi_label,
            "size": cfg.size, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()},
            "train_counts": train.class_counts().tolist(), "synthetic_train_rows": int(train.synthetic.sum())}
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    stopped_early = False
    for epoch in range(start, cfg.epochs):
        if bad_epochs >= cfg.patience:
            stopped_early = True
            break
        _seed(cfg.seed, epoch + 1, d.rank)
        order = epoch_indices(len(train), seed=cfg.seed, epoch=epoch, weights=weights,
                              num_samples=steps * cfg.batch_size, rank=d.rank, world=d.world)
        net.train()
        losses = []
        for i in tqdm(range(steps), desc=f"epoch {epoch + 1}", leave=False, disable=cfg.quiet or not d.is_main):
            idx = torch.from_numpy(order[i * per_rank:(i + 1) * per_rank])
            x = pol.apply(x_train[idx].to(d.device))
            y = y_train[idx].to(d.device)
            with distributed.autocast(d):
                logits = net(x).float()
                loss = train_loss(logits, y, syn_train[idx].to(d.device), multi_label=cfg.multi_label, weight=weight,
                                  synthetic_weight=cfg.synthetic_weight, synthetic_smoothing=cfg.synthetic_smoothing)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if ema is not None:
                distributed.ema_update(ema, model, cfg.ema_decay, average_buffers=True)
            losses.append(float(loss.detach()))
        distributed.sync_buffers(net, d)
        scores = predict(shown, ds_val, multi_label=cfg.multi_label, device=d.device)
        m = compute(scores, val.targets, list(view.classes), multi_label=cfg.multi_label)
        val_loss = _val_loss(scores, val.targets, multi_label=cfg.multi_label)
        if cfg.select_on == "last":
            metric = float(epoch + 1)
        elif cfg.select_on == "loss":
            metric = -val_loss
        else:
            metric = m["macro"]["auroc"] if m["macro"]["auroc"] is not None else -val_loss
        improved = metric > best_metric
        if improved:
            best_metric, best_epoch, bad_epochs = metric, epoch + 1, 0
        else:
            bad_epochs += 1
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
                        "val_macro_auroc": m["macro"]["auroc"],
                        "val_balanced_accuracy": m["balanced_accuracy"], "best": improved})
        if d.is_main:
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            if improved:
                best_state = {k: v.detach().cpu() for k, v in shown.state_dict().items()}
                _save({**base, "state_dict": best_state, "epoch": epoch + 1, "val_macro_auroc": m["macro"]["auroc"],
                       "val_loss": val_loss, "ema": ema is not None}, best_path)
            extra = {"ema": {k: v.detach().cpu() for k, v in ema.state_dict().items()}} if ema is not None else {}
            _save({**base, **extra, "model": state, "opt": opt.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch + 1,
                   "best_metric": best_metric, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                   "history": history}, last_path)
            with open(out / "history.jsonl", "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(h) + "\n" for h in history)
        distributed.barrier(d)
    best_row = next((h for h in history if h["epoch"] == best_epoch), {})
    summary = {"best_epoch": best_epoch, "best_val_macro_auroc": best_row.get("val_macro_auroc"),
               "best_val_loss": best_row.get("val_loss"), "selected_on": cfg.select_on,
               "weight_averaging": cfg.ema_decay or None, "epochs_run": len(history),
               "stopped_early": stopped_early or bad_epochs >= cfg.patience, "train_rows": len(train),
               "synthetic_train_rows": int(train.synthetic.sum()), "val_rows": len(val), "classes": list(view.classes),
               "train_counts": dict(zip(view.classes, train.class_counts().tolist())), "world_size": d.world,
               "device": str(d.device), "checkpoint": str(best_path), "pretrained": pretrained_info,
               "weights_sha256": distributed.weights_digest(model), "rank": d.rank}
    if d.is_main:
        write_json_atomic(out / "stats.json", summary)
    return summary

"""Per-class quality of a generator against the manifest's real train images.

For each class: FID and KID (torchmetrics, feature extractor :data:`gan.features.NAME`, no download),
precision / recall of the generated distribution (k-NN manifolds, Kynkäänniemi et al. 2019), and a
nearest-real-neighbour memorisation check: a generated image whose RMS pixel distance (in [0, 1]) to
its nearest real training image is below ``memorised_threshold`` is flagged as a likely copy.
Class conditioning: a linear probe (logistic regression, balanced class weights) on the same features,
fitted on the real train rows, is asked which class each generated image belongs to;
``class_consistency`` is the fraction of class-c fakes it assigns to c (chance = 1 / n_classes; a
generator that ignores its label scores near chance whatever its FID). The probe's balanced accuracy
on the real val rows is reported beside it as the ceiling that features allow.
Writes ``out/quality.json`` (+ ``out/memorised.jsonl``, one line per flagged image) and returns it.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import torch

from gan import checkpoint as ckpt
from gan.features import NAME, RandomConvFeatures
from gan.sample import generate
from training.dataset_view import decode_images, load_view
from manifests.io import write_json_atomic


def knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row. (N, D) -> (N,)."""
    d = torch.cdist(feats, feats)
    k = min(k, feats.shape[0] - 1)
    return d.kthvalue(k + 1, dim=1).values   # +1: the row itself is at distance 0


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """Improved precision/recall (Kynkäänniemi et al., NeurIPS 2019) in feature space."""
    if real.shape[0] < 2 or fake.shape[0] < 2:
        return math.nan, math.nan
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    d = torch.cdist(fake, real)                      # (F, R)
    precision = (d <= r_real[None, :]).any(dim=1).float().mean().item()
    recall = (d.T <= r_fake[None, :]).any(dim=1).float().mean().item()
    return precision, recall


def _fid_kid(extractor: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, size: int) -> tuple[float, float, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(real.shape[0], fake.shape[0])
    if n < 2:
        return math.nan, math.nan, math.nan
    fid = FrechetInceptionDistance(feature=extractor, normalize=True, input_img_size=(1, size, size))
    with warnings.catch_warnings():   # "KID will save all extracted features": a few hundred rows here
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=extractor, normalize=True, subset_size=n, subsets=20)
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    kid_mean, kid_std = kid.compute()
    return float(fid.compute()), float(kid_mean), float(kid_std)


def evaluate_generator(checkpoint: str | Path, manifest: str | Path, out: str | Path, *, n_per_class: int = 200,
                       seed: int = 0, memorised_threshold: float = 0.03, k: int = 3) -> dict:
    g, meta = ckpt.load_generator(checkpoint)
    classes = list(meta["classes"])
    size = meta["config"]["size"]
    view = load_view(manifest, classes=classes)
    train = view.split("train")
    train = train.subset(~train.synthetic)
    images = torch.from_numpy(decode_images(train.paths, size)).float().div(255.0).unsqueeze(1)
    extractor = RandomConvFeatures()
    with torch.no_grad():
        train_feats = extractor(images).float()
    probe = fit_probe(train_feats.numpy(), train.targets, seed=seed)
    val = view.split("val")
    val = val.subset(~val.synthetic)
    probe_val = None
    if len(val):
        with torch.no_grad():
            vf = extractor(torch.from_numpy(decode_images(val.paths, size)).float().div(255.0).unsqueeze(1)).float()
        from sklearn.metrics import balanced_accuracy_score

        with warnings.catch_warnings():   # val may lack a class the probe predicts: recall over present classes
            warnings.filterwarnings("ignore", message=".*y_pred contains classes not in y_true.*")
            probe_val = float(balanced_accuracy_score(val.targets, probe.predict(vf.numpy())))
    per_class: dict[str, dict] = {}
    flagged: list[dict] = []
    for ci, cname in enumerate(classes):
        mask = torch.from_numpy(train.targets == ci)
        real = images[mask]
        fake = torch.from_numpy(generate(g, ci, n_per_class, seed=seed)).float().div(255.0).unsqueeze(1)
        with torch.no_grad():
            fr, ff = train_feats[mask], extractor(fake).float()
        consistency = float((probe.predict(ff.numpy()) == ci).mean())
        fid, kid_mean, kid_std = _fid_kid(extractor, real, fake, size) if len(real) >= 2 else (math.nan,) * 3
        precision, recall = precision_recall(fr, ff, k=k)
        # nearest real neighbour in pixel space (RMS over pixels, images in [0, 1])
        pix = torch.cdist(fake.flatten(1), images.flatten(1)) / math.sqrt(images[0].numel())
        nn_dist, nn_idx = pix.min(dim=1)
        real_nn = (torch.cdist(real.flatten(1), images.flatten(1)) / math.sqrt(images[0].numel()))
        real_nn = real_nn.sort(dim=1).values[:, 1] if real.shape[0] and images.shape[0] > 1 else torch.tensor([])
        mem = (nn_dist < memorised_threshold).nonzero().flatten().tolist()
        for i in mem:
            flagged.append({"class": cname, "sample": i, "nearest_real": train.keys[int(nn_idx[i])],
                            "rms_distance": float(nn_dist[i])})
        per_class[cname] = {
            "n_real": int(real.shape[0]), "n_generated": n_per_class, "fid": _f(fid), "kid": _f(kid_mean),
            "kid_std": _f(kid_std), "precision": _f(precision), "recall": _f(recall),
            "nn_rms_median": _f(float(nn_dist.median())), "nn_rms_min": _f(float(nn_dist.min())),
            "real_to_real_nn_rms_median": _f(float(real_nn.median())) if len(real_nn) else None,
            "memorised": len(mem), "memorised_fraction": len(mem) / n_per_class,
            "class_consistency": _f(consistency),
        }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "memorised.jsonl", "w", encoding="utf-8") as fh:
        for row in flagged:
            fh.write(json.dumps(row) + "\n")
    result = {
        "feature_extractor": NAME, "generator": ckpt.checkpoint_id(checkpoint), "epoch": meta["epoch"],
        "reference": "real train rows of the manifest (single-label subset)", "memorised_threshold": memorised_threshold,
        "knn_k": k, "per_class": per_class,
        "mean": {m: _mean([v[m] for v in per_class.values()])
                 for m in ("fid", "kid", "precision", "recall", "class_consistency")},
        "class_probe": {"model": "logistic regression (balanced) on standardised features", "chance": 1 / len(classes),
                        "real_val_balanced_accuracy": _f(probe_val) if probe_val is not None else None},
        "memorised_total": len(flagged),
    }
    write_json_atomic(out / "quality.json", result)
    return result


def fit_probe(feats: np.ndarray, targets: np.ndarray, *, seed: int = 0):
    """Linear class probe on features: standardise, then balanced multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000,
                                                              random_state=seed)).fit(feats, targets)


def _mean(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return _f(float(np.mean(xs))) if xs else None


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)

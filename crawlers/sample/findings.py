"""Class-specific findings drawn onto a rendered chest (see :mod:`crawlers.sample.anatomy`).

Each drawer takes the rendered chest, the coordinate grids, the anatomy and a random generator,
changes ``chest["img"]`` in place and returns ``(mask, detail)``: the pixels it changed (for the
ground-truth box) and words the report uses (side, zone, size). Contrast is deliberately strong so
a small CNN can learn every finding at 64 px. Cardiomegaly is a change of the base rendering (the
heart is drawn larger), see :data:`HEART_ENLARGE`.

"Right"/"left" are the patient's: the patient's right lung is on the image's left (u < 0).
"""

from __future__ import annotations

import numpy as np

from crawlers.sample.anatomy import Anatomy, smooth_noise

#: Heart width factor for Cardiomegaly (cardiothoracic ratio well above 0.5).
HEART_ENLARGE = (1.42, 1.6)

SIDES = {-1: "right", 1: "left"}


def _side(rng: np.random.Generator) -> int:
    return int(rng.choice([-1, 1]))


def _zone(v: float) -> str:
    return "upper" if v < -0.25 else ("middle" if v < 0.15 else "lower")


def _point_in_lung(rng, u, v, lung, *, min_mask=0.95, margin_v=(-0.55, 0.35)):
    """A pixel's (u, v) well inside ``lung``, drawn uniformly (deterministic given rng)."""
    ok = (lung >= min_mask) & (v > margin_v[0]) & (v < margin_v[1])
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        idx = np.flatnonzero(lung > 0.5)
    pick = int(idx[int(rng.integers(idx.size))])
    return float(u.flat[pick]), float(v.flat[pick])


def _blob(u, v, cu, cv, r, rng, lobes=0.0):
    ang = np.arctan2(v - cv, u - cu)
    rr = r * (1.0 + lobes * np.sin(3 * ang + rng.uniform(0, 6.3)) + 0.5 * lobes * np.sin(5 * ang + rng.uniform(0, 6.3)))
    d = np.hypot(u - cu, v - cv) / rr
    return np.clip((1.0 - d) / 0.25, 0.0, 1.0)


def effusion(chest, u, v, an: Anatomy, rng):
    sides = [-1, 1] if rng.random() < 0.25 else [_side(rng)]
    total = np.zeros_like(u)
    size = str(rng.choice(["small", "moderate", "large"], p=[0.35, 0.45, 0.2]))
    height = {"small": 0.22, "moderate": 0.34, "large": 0.5}[size] * rng.uniform(0.9, 1.1)
    for s in sides:
        lung = chest["lungs"][0 if s < 0 else 1]
        cu = s * an.lung_gap
        lateral = np.clip(s * (u - cu) / an.lung_w * 0.5 + 0.5, 0.0, 1.0)  # 0 medial .. 1 lateral
        level = an.dome - height - 0.18 * lateral ** 2          # meniscus: fluid climbs the wall
        fluid = np.clip((v - level) / 0.04, 0.0, 1.0) * np.clip(lung * 1.5, 0.0, 1.0)
        chest["img"] = chest["img"] * (1 - fluid) + (an.soft + 0.14) * fluid
        total = np.maximum(total, fluid)
    side = "bilateral" if len(sides) == 2 else SIDES[sides[0]]
    return total, {"side": side, "zone": "lower", "size": size}


def nodule(chest, u, v, an, rng):
    s = _side(rng)
    lung = chest["lungs"][0 if s < 0 else 1]
    cu, cv = _point_in_lung(rng, u, v, lung)
    r = rng.uniform(0.06, 0.085)
    m = _blob(u, v, cu, cv, r, rng)
    chest["img"] = chest["img"] + 0.38 * m
    return m, {"side": SIDES[s], "zone": _zone(cv), "size": f"{int(r * 150)} mm"}


def mass(chest, u, v, an, rng):
    s = _side(rng)
    lung = chest["lungs"][0 if s < 0 else 1]
    cu, cv = _point_in_lung(rng, u, v, lung, margin_v=(-0.35, 0.2))
    r = rng.uniform(0.14, 0.2)
    m = _blob(u, v, cu, cv, r, rng, lobes=0.12)
    chest["img"] = chest["img"] + 0.36 * m
    return m, {"side": SIDES[s], "zone": _zone(cv), "size": f"{r * 15:.1f} cm"}


def pneumothorax(chest, u, v, an, rng):
    s = _side(rng)
    lung = chest["lungs"][0 if s < 0 else 1]
    cu = s * an.lung_gap
    w = an.lung_w * (0.93 if s > 0 else 1.0)
    f = np.sqrt(((u - cu) / w) ** 2 + ((v + 0.05) / an.lung_h) ** 2)
    size = str(rng.choice(["small", "moderate", "large"], p=[0.3, 0.45, 0.25]))
    depth = {"small": 0.22, "moderate": 0.32, "large": 0.45}[size]
    edge = 1.0 - depth
    upper_lateral = np.clip((an.dome - 0.12 - v) / 0.1, 0.0, 1.0) * np.clip((s * (u - cu) + 0.35 * w) / (0.1 * w), 0.0, 1.0)
    region = np.clip((f - edge) / 0.02, 0.0, 1.0) * lung * upper_lateral
    chest["img"] = chest["img"] * (1 - region) + (an.lung * 0.35) * region   # air, no lung markings
    line = np.clip(1.0 - np.abs(f - edge) / 0.018, 0.0, 1.0) * lung * upper_lateral
    chest["img"] = chest["img"] + 0.2 * line                                    # visceral pleural line
    return np.maximum(region, line), {"side": SIDES[s], "zone": "apical", "size": size}


def infiltration(chest, u, v, an, rng):
    sides = [-1, 1] if rng.random() < 0.35 else [_side(rng)]
    texture = 0.55 + 0.45 * smooth_noise(rng, u.shape[0], 28)
    total = np.zeros_like(u)
    zones = []
    for s in sides:
        lung = chest["lungs"][0 if s < 0 else 1]
        for _ in range(int(rng.integers(2, 4))):
            cu, cv = _point_in_lung(rng, u, v, lung, min_mask=0.9)
            zones.append(_zone(cv))
            r = rng.uniform(0.1, 0.16)
            g = np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * r * r))
            total = np.maximum(total, g * lung)
    patch = np.clip(total * texture * 1.3, 0.0, 1.0)
    chest["img"] = chest["img"] + 0.42 * patch
    side = "bilateral" if len(sides) == 2 else SIDES[sides[0]]
    zone = max(sorted(set(zones)), key=zones.count)
    return (patch > 0.25).astype(np.float32), {"side": side, "zone": zone, "size": ""}


def atelectasis(chest, u, v, an, rng):
    s = _side(rng)
    lung = chest["lungs"][0 if s < 0 else 1]
    cu = s * an.lung_gap
    if rng.random() < 0.5:   # plate-like (linear) atelectasis in the lower zone
        cv = an.dome - rng.uniform(0.12, 0.22)
        slope = rng.uniform(-0.25, 0.25)
        d = np.abs(v - (cv + slope * (u - cu)))
        m = np.clip(1.0 - d / rng.uniform(0.05, 0.07), 0.0, 1.0) * np.clip(lung * 1.4, 0.0, 1.0)
        kind = "linear"
    else:                    # wedge from the hilum towards the lateral base
        hu, hv = s * 0.18, 0.05
        tu, tv = cu + s * an.lung_w * 0.8, an.dome + 0.05
        ax, ay = tu - hu, tv - hv
        length = np.hypot(ax, ay)
        t = ((u - hu) * ax + (v - hv) * ay) / length ** 2
        perp = np.abs((u - hu) * ay - (v - hv) * ax) / length
        half = 0.02 + 0.13 * np.clip(t, 0.0, 1.0)
        m = np.clip((half - perp) / 0.02, 0.0, 1.0) * (t > 0.1) * (t < 1.2) * np.clip(lung * 1.4, 0.0, 1.0)
        kind = "wedge"
    chest["img"] = chest["img"] * (1 - m) + (an.soft + 0.12) * m
    return m, {"side": SIDES[s], "zone": "lower", "size": kind}


#: Drawers by NIH finding name (Cardiomegaly is drawn by the base rendering).
DRAWERS = {
    "Effusion": effusion,
    "Nodule": nodule,
    "Mass": mass,
    "Pneumothorax": pneumothorax,
    "Infiltration": infiltration,
    "Atelectasis": atelectasis,
}


def box_of(mask: np.ndarray, threshold: float = 0.3) -> dict | None:
    """Pixel bounding box ``{x, y, w, h}`` of ``mask > threshold`` (None when empty)."""
    ys, xs = np.nonzero(mask > threshold)
    if xs.size == 0:
        return None
    return {"x": int(xs.min()), "y": int(ys.min()), "w": int(xs.max() - xs.min() + 1), "h": int(ys.max() - ys.min() + 1)}

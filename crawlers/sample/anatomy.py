"""A frontal chest radiograph drawn from a few shapes: body, lungs, mediastinum, heart, ribs, clavicles.

Everything is drawn in normalised patient coordinates ``(u, v)`` in ``[-1, 1]`` (``u`` to the
image's right = the patient's left on a PA view, ``v`` downwards), so a pose (shift, rotation, scale)
is applied by transforming the pixel grid once, not by resampling the image. Intensities are floats
in ``[0, 1]`` (1 = white = dense), before contrast, noise and quantisation (:func:`finish`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image


@dataclasses.dataclass(frozen=True)
class Pose:
    """Where the patient sits in the frame: shift and scale in normalised units, rotation in degrees."""

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class Anatomy:
    """One patient's body habitus (fixed across their studies) and this study's heart size."""

    body_w: float = 0.95
    body_h: float = 1.2
    lung_w: float = 0.34
    lung_h: float = 0.64
    lung_gap: float = 0.40      # lung centre distance from the midline
    dome: float = 0.42          # diaphragm height (v) at the dome
    dome_drop: float = 0.22     # how far the diaphragm falls laterally
    heart_w: float = 0.28
    heart_h: float = 0.23
    heart_x: float = 0.10
    heart_y: float = 0.30
    rib_step: float = 0.105
    soft: float = 0.42          # soft-tissue density
    lung: float = 0.13          # lung (air) density


def patient_anatomy(rng: np.random.Generator) -> Anatomy:
    j = lambda base, rel: float(base * (1.0 + rng.uniform(-rel, rel)))  # noqa: E731
    return Anatomy(
        body_w=j(0.95, 0.05), body_h=j(1.2, 0.04), lung_w=j(0.34, 0.06), lung_h=j(0.64, 0.05),
        lung_gap=j(0.40, 0.04), dome=j(0.42, 0.08), dome_drop=j(0.22, 0.15), heart_w=j(0.28, 0.06),
        heart_h=j(0.21, 0.06), heart_x=j(0.12, 0.2), heart_y=j(0.33, 0.08), rib_step=j(0.105, 0.05),
        soft=j(0.42, 0.06), lung=j(0.13, 0.12),
    )


def study_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        dx=float(rng.uniform(-0.06, 0.06)), dy=float(rng.uniform(-0.05, 0.05)),
        angle=float(rng.uniform(-4.0, 4.0)), scale=float(rng.uniform(0.92, 1.04)),
    )


def grid(size: int, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Patient coordinates (u, v) of every pixel centre, each of shape (size, size)."""
    t = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    xn, yn = np.meshgrid(t, t)
    a = np.deg2rad(pose.angle)
    c, s = np.float32(np.cos(a)), np.float32(np.sin(a))
    x0, y0 = xn - pose.dx, yn - pose.dy
    return (c * x0 + s * y0) / pose.scale, (-s * x0 + c * y0) / pose.scale


def soft_ellipse(u, v, cu, cv, a, b, edge=0.08):
    """1 inside the ellipse, 0 outside, with a soft border of relative width ``edge``."""
    f = np.sqrt(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2)
    return np.clip((1.0 - f) / edge, 0.0, 1.0)


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Band-limited noise in about [-1, 1]: ``cells`` x ``cells`` random values upsampled bicubically."""
    low = rng.standard_normal((cells, cells)).astype(np.float32)
    img = Image.fromarray(low, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    out = np.asarray(img, dtype=np.float32)
    return out / (np.abs(out).max() + 1e-6)


def lung_masks(u, v, an: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """Soft masks of the image-left (patient right) and image-right (patient left) lungs."""
    masks = []
    for side in (-1, 1):
        cu = side * an.lung_gap
        w = an.lung_w * (0.93 if side > 0 else 1.0)  # the heart takes room on the patient's left
        ell = soft_ellipse(u, v, cu, -0.05, w, an.lung_h, edge=0.06)
        lateral = np.clip(side * (u - cu) / w, -1.0, 1.0)
        diaphragm = an.dome + an.dome_drop * np.clip(lateral, 0.0, 1.0) ** 2 - 0.05 * np.clip(-lateral, 0, 1)
        below = np.clip((diaphragm - v) / 0.03, 0.0, 1.0)
        masks.append(ell * below)
    return masks[0], masks[1]


def heart_mask(u, v, an: Anatomy, enlarge: float = 1.0) -> np.ndarray:
    w = an.heart_w * enlarge
    return soft_ellipse(u, v, an.heart_x + 0.35 * (w - an.heart_w), an.heart_y, w, an.heart_h * (0.6 + 0.4 * enlarge), edge=0.05)


def render_chest(u, v, an: Anatomy, rng: np.random.Generator, *, heart_enlarge: float = 1.0) -> dict:
    """Base radiograph and the masks findings need: ``img``, ``lungs`` (left, right), ``heart``."""
    size = u.shape[0]
    body = soft_ellipse(u, v, 0.0, 0.25, an.body_w, an.body_h, edge=0.04)
    shoulders = soft_ellipse(u, v, 0.0, -0.55, an.body_w * 1.15, 0.45, edge=0.12)
    neck = soft_ellipse(u, v, 0.0, -1.0, 0.2, 0.5, edge=0.1)
    body = np.maximum(np.maximum(body, shoulders), neck)
    img = 0.03 + (an.soft - 0.03) * body
    # denser towards the abdomen (below the diaphragm)
    img = img + 0.12 * body * np.clip((v - an.dome) / 0.4, 0.0, 1.0)

    left, right = lung_masks(u, v, an)
    lungs = np.maximum(left, right)
    markings = smooth_noise(rng, size, 22) * 0.5 + smooth_noise(rng, size, 48) * 0.5
    hilum_dist = np.minimum(np.hypot(u + 0.2, v + 0.02), np.hypot(u - 0.2, v + 0.02))
    vascular = 0.09 * np.clip(1.0 - hilum_dist / 0.55, 0.0, 1.0)
    lung_density = an.lung + vascular + 0.035 * markings
    img = img * (1.0 - lungs) + lung_density * lungs

    # ribs: posterior arcs over each lung, falling laterally
    ribs = np.zeros_like(img)
    for side in (-1, 1):
        su = side * u
        reach = np.clip((su - 0.05) / 0.05, 0.0, 1.0) * np.clip((0.78 - su) / 0.05, 0.0, 1.0)
        phase = (v + 0.62 - 0.42 * (su - 0.12) ** 2) / an.rib_step      # rib k sits at phase == k
        k = np.clip(np.round(phase), 0, 9)
        d = np.abs(phase - k) * an.rib_step
        ribs = np.maximum(ribs, np.clip(1.0 - d / 0.022, 0.0, 1.0) * reach)
    img = img + 0.07 * ribs * body

    # clavicles
    for side in (-1, 1):
        su = side * u
        centre = -0.63 - 0.13 * (su - 0.1)
        band = np.clip(1.0 - np.abs(v - centre) / 0.03, 0.0, 1.0) * np.clip((su - 0.06) / 0.04, 0, 1) * np.clip((0.62 - su) / 0.04, 0, 1)
        img = img + 0.12 * band

    # mediastinum + spine, heart
    medi = np.clip((0.11 - np.abs(u - 0.01)) / 0.03, 0.0, 1.0) * np.clip((v + 0.8) / 0.1, 0.0, 1.0)
    spine = np.clip((0.06 - np.abs(u)) / 0.02, 0.0, 1.0)
    img = np.maximum(img, (an.soft + 0.1) * np.maximum(medi * (v < an.heart_y), spine * 0.9) * body)
    heart = heart_mask(u, v, an, heart_enlarge)
    img = np.maximum(img, (an.soft + 0.16) * heart)
    return {"img": img.astype(np.float32), "lungs": (left, right), "heart": heart, "body": body}


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (reflect padding)."""
    if sigma <= 0:
        return img
    r = max(1, int(round(3 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    p = np.pad(img, ((r, r), (0, 0)), mode="reflect")
    img = sum(k[i] * p[i:i + img.shape[0]] for i in range(2 * r + 1))
    p = np.pad(img, ((0, 0), (r, r)), mode="reflect")
    return sum(k[i] * p[:, i:i + img.shape[1]] for i in range(2 * r + 1)).astype(np.float32)


def finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, contrast/brightness/gamma variation and noise -> 8-bit grey (uint8)."""
    size = img.shape[0]
    img = blur(img, 0.6 * size / 256)
    gain = rng.uniform(0.9, 1.15)
    offset = rng.uniform(-0.04, 0.05)
    gamma = rng.uniform(0.85, 1.15)
    img = np.clip(img * gain + offset, 0.0, 1.0) ** gamma
    img = img + rng.normal(0.0, rng.uniform(0.008, 0.02), img.shape).astype(np.float32)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)

"""Nuclei tiles of the second bed (nuclei method): fluorescence-like (one dark-field channel,
given as grey RGB) or H&E-like (purple nuclei on pink), with id-mod-3 labels.

Written independently of :mod:`irpath.demo.nuclei`: its own shapes (tumour nuclei large and
lobed with a textured chromatin, lymphocytes small, round and dense, stroma nuclei spindles),
touching and overlapping nuclei, uneven illumination, shot noise and blur; ``scale`` sets the
nucleus size (1.0: tumour radius ~ 7 px) and ``density`` the nuclear area fraction aimed for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

STAINS = ("fluorescence", "he")
#: class index (id % 3): 0 tumour, 1 lymphocyte, 2 stroma
_SHAPES = {0: (7.0, 1.3, 0.18), 1: (3.5, 1.05, 0.04), 2: (4.0, 3.2, 0.08)}  # radius, elongation, lobes


def _nucleus(rng, h, w, cy, cx, cls, scale):
    radius, elong, lobes = _SHAPES[cls]
    r = radius * scale * rng.uniform(0.8, 1.25)
    reach = int(np.ceil(r * elong)) + 2
    y0, y1, x0, x1 = max(0, int(cy) - reach), min(h, int(cy) + reach + 1), max(0, int(cx) - reach), \
        min(w, int(cx) + reach + 1)
    mask = np.zeros((h, w), bool)
    if y0 >= y1 or x0 >= x1:
        return mask
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
    phi = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(phi) + (yy - cy) * np.sin(phi)
    v = -(xx - cx) * np.sin(phi) + (yy - cy) * np.cos(phi)
    theta = np.arctan2(v, u)
    k = rng.integers(3, 6)
    bound = r * (1 + lobes * np.cos(k * theta + rng.uniform(0, 2 * np.pi)))
    mask[y0:y1, x0:x1] = np.hypot(u / elong, v) <= bound
    return mask


def make_nuclei_image(size: int, rng, *, stain: str = "he", scale: float = 1.0,
                      density: float = 0.2, noise: float = 1.0):
    """One tile and its id-mod-3 label.

    Args:
        size: tile side.
        rng: a ``numpy.random.Generator``.
        stain: "fluorescence" or "he".
        scale: nucleus size factor (0.25-4 of the first bed's are reachable with 0.5-3).
        density: nuclear area fraction aimed for (0.03-0.6).
        noise: noise strength factor.

    Returns:
        ``(rgb (size, size, 3) uint8, label (size, size) int32)``: 0 background, each nucleus
        its own id with ``id % 3`` its class (0 tumour, 1 lymphocyte, 2 stroma).
    """
    if stain not in STAINS:
        raise ValueError(f"stain must be one of {STAINS}, got {stain!r}")
    label = np.zeros((size, size), np.int32)
    texture = np.zeros((size, size))
    n = 0
    for _ in range(2000):
        if (label > 0).mean() >= density:
            break
        cls = int(rng.choice(3, p=(0.45, 0.35, 0.2)))
        mask = _nucleus(rng, size, size, rng.uniform(0, size), rng.uniform(0, size), cls, scale)
        if not mask.any() or (label[mask] > 0).mean() > 0.15:  # some touching, little overlap
            continue
        n += 1
        label[mask] = 3 * n + cls
        texture[mask] = {0: 0.65, 1: 1.0, 2: 0.85}[cls] * rng.uniform(0.8, 1.1)
    chromatin = ndi.gaussian_filter(rng.random((size, size)), 1.0)
    signal = texture * (0.75 + 0.5 * (chromatin - chromatin.mean()) / (chromatin.std() + 1e-9) * 0.3)
    signal = ndi.gaussian_filter(signal, 0.9)
    yy, xx = np.mgrid[0:size, 0:size] / size
    light = 1 + 0.25 * np.sin(2 * np.pi * (yy * rng.uniform(0.3, 1) + xx * rng.uniform(0.3, 1)))
    if stain == "fluorescence":
        grey = np.clip(signal * light, 0, None) * 200 + 12
        grey = rng.poisson(np.clip(grey, 0, None) / 4 * 1.0) * 4.0 + rng.normal(0, 3 * noise, grey.shape)
        rgb = np.repeat(grey[..., None], 3, axis=-1)
    else:
        background = np.array([238.0, 190.0, 210.0]) - 25 * ndi.gaussian_filter(
            rng.random((size, size)), 3)[..., None]
        nucleus = np.array([95.0, 55.0, 140.0])
        a = np.clip(signal, 0, 1)[..., None]
        rgb = (background * (1 - a) + nucleus * a) * light[..., None] * rng.uniform(0.93, 1.05, 3)
        rgb = rgb + rng.normal(0, 5 * noise, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), label


def make_nuclei_dataset(folder, n: int = 6, size: int = 128, seed: int = 0, *, stain: str = "he",
                        scale: float = 1.0, density: float = 0.2) -> list:
    """Write ``n`` tiles as ``images/bed2_XXX.png`` + ``labels/bed2_XXX.png`` (16-bit ids).

    Returns:
        ``[(image path, label path), ...]``.
    """
    from PIL import Image

    from irpath.io.labels import write_label_image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(n):
        rgb, label = make_nuclei_image(size, np.random.default_rng([seed, i, 23]), stain=stain,
                                       scale=scale, density=density)
        image = folder / "images" / f"bed2_{i:03d}.png"
        Image.fromarray(rgb).save(image)
        pairs.append((image, write_label_image(folder / "labels" / f"bed2_{i:03d}.png", label)))
    return pairs

"""Synthetic H&E colon glands, written in the GlaS / Warwick-QU layout.

Benign glands are regular and round, with a pale lumen inside an epithelial
rim of purple, nucleus-dotted cells, spread over pink stroma. Malignant glands
are irregular (strong low harmonics in their outline), of varied size,
crowded, with a thick dark rim and a small or missing lumen. Labels are
instance maps (0 background, 1..n glands), as in GlaS ``*_anno.bmp`` files.

``python -m irpath.demo.glands OUT`` writes a small folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

GRADE_HEADER = "name,Patient ID,grade (GlaS),grade (Sirinukunwattana et al. 2015)"
STROMA = np.array([232, 178, 206], np.float32)
LUMEN = np.array([246, 238, 246], np.float32)
RIM = {False: np.array([176, 110, 182], np.float32), True: np.array([140, 72, 160], np.float32)}
NUCLEUS = np.array([78, 40, 118], np.float32)

_STYLE = {  # radius (fraction of size), outline harmonics amplitude, lumen fraction, gap, tries
    False: dict(radius=(0.08, 0.11), wobble=0.06, lumen=(0.5, 0.65), gap=0.05, count=(5, 8)),
    True: dict(radius=(0.06, 0.15), wobble=0.32, lumen=(0.0, 0.3), gap=0.01, count=(9, 14)),
}


def _outline(rng, theta, r0, wobble):
    """r(θ) = r0 (1 + Σ_k a_k cos(kθ + φ_k)), k = 2..5, Σ|a_k| <= wobble."""
    amps = rng.uniform(0, 1, 4)
    amps *= wobble / amps.sum()
    phases = rng.uniform(0, 2 * np.pi, 4)
    r = np.ones_like(theta)
    for k, a, p in zip(range(2, 6), amps, phases):
        r += a * np.cos(k * theta + p)
    return r0 * r


def make_gland_image(size: int = 128, malignant: bool = False, seed=0):
    """One synthetic H&E tile.

    Args:
        size: H = W in pixels.
        malignant: irregular crowded glands if true, regular round ones otherwise.
        seed: int or ``np.random.Generator``.

    Returns:
        ``(image, labels)``: (size, size, 3) uint8 RGB and (size, size) int32
        instance labels (0 background).
    """
    rng = np.random.default_rng(seed)
    style = _STYLE[bool(malignant)]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    labels = np.zeros((size, size), np.int32)
    lumen = np.zeros((size, size), bool)
    wanted = rng.integers(style["count"][0], style["count"][1] + 1)
    gap = style["gap"] * size
    n = 0
    for _ in range(60 * wanted):
        if n == wanted:
            break
        r0 = rng.uniform(*style["radius"]) * size
        cy, cx = rng.uniform(0, size, 2)
        theta = np.arctan2(yy - cy, xx - cx)
        dist = np.hypot(yy - cy, xx - cx)
        rad = _outline(rng, theta, r0, style["wobble"])
        gland = dist < rad
        if gland.sum() < 12 or (labels[dist < rad + gap] > 0).any():
            continue
        n += 1
        labels[gland] = n
        lumen |= dist < rad * rng.uniform(*style["lumen"])
    rim = (labels > 0) & ~lumen
    image = np.empty((size, size, 3), np.float32)
    image[:] = STROMA
    image[rim] = RIM[bool(malignant)]
    image[lumen] = LUMEN
    # nuclei: dense along the epithelial rim, sparse in the stroma
    density = np.where(rim, 0.05 if malignant else 0.035, 0.004)
    seeds = rng.random((size, size)) < density
    nuclei = ndimage.binary_dilation(seeds, iterations=2 if malignant else 1)
    image[nuclei & ~lumen] = 0.35 * image[nuclei & ~lumen] + 0.65 * NUCLEUS
    image = ndimage.gaussian_filter(image, sigma=(0.8, 0.8, 0))
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), labels


def make_glas_folder(folder, n_images: int = 8, size: int = 128, seed: int = 0,
                     prefix: str = "train") -> Path:
    """Write ``n_images`` tiles in the GlaS layout and return ``folder``.

    Files: ``{prefix}_{i}.bmp`` (RGB), ``{prefix}_{i}_anno.bmp`` (8-bit
    instance labels) for i = 1..n, and ``Grade.csv`` with GlaS' header
    (``name,Patient ID,grade (GlaS),grade (Sirinukunwattana et al. 2015)``)
    and values with a leading space (`` benign``, `` malignant``). Classes
    alternate benign/malignant in a seeded order (half each, rounded).
    """
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    malignant = rng.permutation(np.arange(n_images) % 2 == 1)
    rows = [GRADE_HEADER]
    for i, mal in enumerate(malignant, start=1):
        name = f"{prefix}_{i}"
        image, labels = make_gland_image(size, bool(mal), rng)
        Image.fromarray(image, "RGB").save(folder / f"{name}.bmp")
        Image.fromarray(labels.astype(np.uint8), "L").save(folder / f"{name}_anno.bmp")
        fine = " moderately differentiated" if mal else " adenomatous"
        rows.append(f"{name},{i},{' malignant' if mal else ' benign'},{fine}")
    (folder / "Grade.csv").write_text("\n".join(rows) + "\n")
    return folder


if __name__ == "__main__":  # pragma: no cover
    out = make_glas_folder(sys.argv[1] if len(sys.argv) > 1 else "glas_synthetic")
    print(f"wrote {out}")

"""GlaS-layout gland folders of the second bed (multiloss): white lumens, a purple nuclear
rim, pink fibrous stroma; benign glands round and thin-rimmed, malignant ones irregular,
crowded and thick-rimmed with a narrow lumen.

Written independently of :mod:`irpath.demo.glands`: its own shapes, colours, stroma texture
and noise, and two knobs the first bed lacks: ``scale`` (gland size, 1.0 = radius ~ 9 % of
the image side) and ``foreground`` (the gland fraction of the area the placement aims for).

``python -m irpath.demo.bed2.glands OUT`` writes a small folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

GRADE_HEADER = "name,Patient ID,grade (GlaS),grade (Sirinukunwattana et al. 2015)"
STROMA = np.array([232.0, 168.0, 196.0])       # eosin pink
STROMA_FIBRE = np.array([205.0, 120.0, 165.0])
RIM = np.array([118.0, 70.0, 150.0])           # haematoxylin purple
NUCLEUS = np.array([70.0, 35.0, 110.0])
LUMEN = np.array([246.0, 240.0, 246.0])


def _fibres(rng, h, w):
    """(H, W) in [0, 1]: stroma fibres, anisotropically smoothed noise along a random angle."""
    noise = rng.standard_normal((h, w))
    angle = rng.uniform(0, 180)
    big = ndi.rotate(noise, angle, reshape=False, mode="wrap")
    big = ndi.gaussian_filter(big, (0.8, 6.0))
    big = ndi.rotate(big, -angle, reshape=False, mode="wrap")
    big = (big - big.mean()) / (big.std() + 1e-9)
    return np.clip(big * 0.5 + 0.5, 0, 1) ** 2


def _outline(rng, n_angles, irregular: bool):
    """Radius multiplier per angle: a near-ellipse (benign) or a lobed, noisy one (malignant)."""
    t = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    r = np.ones_like(t)
    harmonics = range(2, 7) if irregular else range(2, 4)
    amp = 0.22 if irregular else 0.06
    for k in harmonics:
        r += amp / (k - 1) * rng.uniform(0.3, 1.0) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    return np.clip(r, 0.45, 1.6)


def _gland_mask(rng, h, w, cy, cx, radius, irregular: bool):
    """(H, W) bool gland, ``radius`` pixels along its major axis, elongated up to 1.8 x
    (computed in the gland's bounding box only)."""
    reach = int(np.ceil(radius * 1.7)) + 1
    y0, y1 = max(0, int(cy) - reach), min(h, int(cy) + reach + 1)
    x0, x1 = max(0, int(cx) - reach), min(w, int(cx) + reach + 1)
    mask = np.zeros((h, w), bool)
    if y0 >= y1 or x0 >= x1:
        return mask
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    phi = rng.uniform(0, np.pi)
    elong = rng.uniform(1.0, 1.8 if irregular else 1.3)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(phi) + dy * np.sin(phi)
    v = (-dx * np.sin(phi) + dy * np.cos(phi)) * elong
    theta = np.arctan2(v, u) % (2 * np.pi)
    shape = _outline(rng, 64, irregular)
    r_at = np.interp(theta, np.linspace(0, 2 * np.pi, 65), np.append(shape, shape[0]))
    mask[y0:y1, x0:x1] = np.hypot(u, v) <= radius * r_at
    return mask


def make_gland_image(height: int, width: int, malignant: bool, rng, *, scale: float = 1.0,
                     foreground: float = 0.22, noise: float = 6.0):
    """One gland image and its instance labels.

    Args:
        height, width: image size.
        malignant: irregular, crowded glands with a thick dark rim (else round, thin-rimmed).
        rng: a ``numpy.random.Generator``.
        scale: gland size (1.0: radius ~ 9 % of the shorter side).
        foreground: target gland fraction of the area (placement stops when it is reached
            or no room is left; 0.03-0.6 are reachable).
        noise: std of the additive Gaussian noise, grey levels.

    Returns:
        ``(image (H, W, 3) uint8, labels (H, W) int32)``, 0 background, 1..n glands.
    """
    h, w = int(height), int(width)
    base = 0.09 * min(h, w) * float(scale)
    labels = np.zeros((h, w), np.int32)
    n = 0
    for _ in range(400):
        if (labels > 0).mean() >= foreground:
            break
        radius = max(3.0, base * rng.uniform(0.7, 1.3))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        mask = _gland_mask(rng, h, w, cy, cx, radius, malignant)
        if not mask.any():
            continue
        gap = max(1, int(radius * 0.15))
        ys, xs = np.nonzero(mask)
        box = (slice(max(0, ys.min() - gap), ys.max() + gap + 1),
               slice(max(0, xs.min() - gap), xs.max() + gap + 1))
        grown = ndi.binary_dilation(mask[box], iterations=gap)
        if (labels[box][grown] > 0).any():
            continue  # glands do not touch: one stroma gap at least
        n += 1
        labels[mask] = n
    fibres = _fibres(rng, h, w)
    image = STROMA[None, None] * (1 - fibres[..., None] * 0.6) + STROMA_FIBRE * fibres[..., None] * 0.6
    # scattered elongated stroma nuclei (fibroblasts)
    fib_nuc = ndi.gaussian_filter((rng.random((h, w)) < 0.002).astype(float), (0.8, 2.0)) > 0.03
    image[fib_nuc] = 0.5 * image[fib_nuc] + 0.5 * NUCLEUS
    dist = ndi.distance_transform_edt(labels > 0)
    for i in range(1, n + 1):
        g = labels == i
        depth = dist[g].max()
        rim_frac = rng.uniform(0.45, 0.7) if malignant else rng.uniform(0.18, 0.3)
        rim = g & (dist <= max(2.0, rim_frac * depth))
        lumen = g & ~rim
        image[rim] = RIM * rng.uniform(0.8, 0.95 if malignant else 1.1)
        image[lumen] = LUMEN
        # nuclei along the rim: dark dots, denser and larger in malignant glands
        dots = rim & (rng.random((h, w)) < (0.10 if malignant else 0.04))
        dots = ndi.binary_dilation(dots, iterations=1 if malignant else 0) if malignant else dots
        image[dots] = NUCLEUS
        if malignant:  # luminal debris
            debris = lumen & (rng.random((h, w)) < 0.05)
            image[debris] = STROMA_FIBRE
    image = ndi.gaussian_filter(image, (0.8, 0.8, 0))
    image = image + rng.normal(0, noise, image.shape)
    image = image * rng.uniform(0.92, 1.05, (1, 1, 3))  # per-image stain shift
    return np.clip(image, 0, 255).astype(np.uint8), labels


def make_glas_folder(folder, n_images: int = 12, height: int = 192, width: int | None = None,
                     seed: int = 0, *, scale: float = 1.0, foreground: float = 0.22,
                     prefix: str = "train") -> Path:
    """Write ``n_images`` images in the GlaS layout (``<prefix>_<i>.bmp``, ``_anno.bmp``,
    ``Grade.csv`` with GlaS' header and leading-space values); half benign, half malignant
    in a seeded order. Returns ``folder``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    malignant = rng.permutation(np.arange(n_images) % 2 == 1)
    rows = [GRADE_HEADER]
    for i, mal in enumerate(malignant, start=1):
        name = f"{prefix}_{i}"
        image, labels = make_gland_image(height, width or height, bool(mal), rng, scale=scale,
                                         foreground=foreground)
        Image.fromarray(image, "RGB").save(folder / f"{name}.bmp")
        Image.fromarray(np.minimum(labels, 255).astype(np.uint8), "L").save(folder / f"{name}_anno.bmp")
        rows.append(f"{name},{i},{' malignant' if mal else ' benign'},"
                    f"{' moderately differentiated' if mal else ' healthy'}")
    (folder / "Grade.csv").write_text("\n".join(rows) + "\n")
    return folder


if __name__ == "__main__":  # pragma: no cover
    print(f"wrote {make_glas_folder(sys.argv[1] if len(sys.argv) > 1 else 'glas_bed2')}")

"""Synthetic H&E-like tiles with cancer / stroma / background regions.

Each tile is a smooth random partition into three regions, each painted with
its own texture:

* cancer: light purple cytoplasm packed with dark purple round nuclei
  (about 40 % of the area), in clusters with gaps;
* stroma: pink with oriented fibrous streaks (darker and lighter pink) and a
  few scattered elongated nuclei;
* background: near-white with faint specks.

Colours overlap on purpose: stroma's dark streaks and stray nuclei resemble
cancer nuclei, cancer cytoplasm resembles light stroma, and every pixel has
sensor noise. A classifier of single-pixel colours is therefore imperfect;
local texture (nuclei density, streak orientation) separates the classes.
Labels use :mod:`irpath.io.colour_labels` (cancer=0, stroma=1, background=2).
Everything is deterministic given the seed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy import ndimage

from irpath.io.colour_labels import BACKGROUND, CANCER, STROMA, write_colour_labels

_BACKGROUND_RGB = np.array([236.0, 230.0, 238.0])
_STROMA_LIGHT = np.array([236.0, 168.0, 204.0])
_STROMA_DARK = np.array([196.0, 104.0, 160.0])
_CYTOPLASM = np.array([214.0, 150.0, 206.0])
_NUCLEUS = np.array([96.0, 52.0, 142.0])


def _smooth(rng, shape, sigma) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to zero mean, unit std."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def region_layout(rng: np.random.Generator, shape) -> np.ndarray:
    """(H, W) int32 classes: smooth blobs of background, cancer and stroma."""
    h, w = shape
    scale = max(h, w) / 6.0
    tissue = _smooth(rng, shape, scale)
    kind = _smooth(rng, shape, scale * 0.8)
    classes = np.full(shape, STROMA, np.int32)
    classes[kind > rng.uniform(-0.4, 0.4)] = CANCER
    classes[tissue < np.quantile(tissue, rng.uniform(0.1, 0.35))] = BACKGROUND
    return classes


def _disk_stamps(rng, shape, density, radius, elongation=1.0, angle=0.0) -> np.ndarray:
    """(H, W) float in [0, 1]: random (elliptic) nuclei with soft edges."""
    h, w = shape
    centres = rng.random(shape) < density
    yy, xx = np.mgrid[-4:5, -4:5].astype(float)
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    kernel = np.clip(radius + 0.5 - np.sqrt((u / elongation) ** 2 + v**2), 0.0, 1.0)
    return np.clip(ndimage.convolve(centres.astype(float), kernel, mode="wrap"), 0.0, 1.0)


def render_tile(rng: np.random.Generator, classes: np.ndarray, *, noise: float = 12.0
                ) -> np.ndarray:
    """Paint a layout. classes: (H, W) int -> (H, W, 3) uint8 RGB."""
    shape = classes.shape
    h, w = shape
    # Stroma: streaks along a random direction, wavy through a smooth phase field.
    theta = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    phase = 3.0 * _smooth(rng, shape, 8.0)
    streak = 0.5 + 0.5 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / 7.0 + phase)
    streak = np.clip(streak + 0.25 * _smooth(rng, shape, 1.0), 0.0, 1.0)[..., None]
    stroma = _STROMA_LIGHT * (1 - streak) + _STROMA_DARK * streak
    stray = _disk_stamps(rng, shape, 0.004, 1.2, elongation=2.5, angle=theta)[..., None]
    stroma = stroma * (1 - stray) + _NUCLEUS * stray
    # Cancer: nuclei whose density follows a clustered field (dense nests with gaps).
    nests = _smooth(rng, shape, 3.0) > -0.3
    nuclei = _disk_stamps(rng, shape, 0.05, 1.6) * nests
    nuclei = nuclei[..., None]
    shade = rng.normal(0.0, 14.0, size=3)
    cancer = _CYTOPLASM * (1 - nuclei) + (_NUCLEUS + shade) * nuclei
    specks = _disk_stamps(rng, shape, 0.002, 0.8)[..., None]
    background = _BACKGROUND_RGB * (1 - 0.3 * specks) + _STROMA_LIGHT * 0.3 * specks

    image = np.where((classes == CANCER)[..., None], cancer,
                     np.where((classes == STROMA)[..., None], stroma, background))
    image = ndimage.gaussian_filter(image, sigma=(0.7, 0.7, 0))  # optics blur edges
    image = image * rng.uniform(0.92, 1.05) + rng.normal(0.0, 6.0, size=3)  # stain variation
    image = image + rng.normal(0.0, noise, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_texture_tile(rng: np.random.Generator, size=(128, 128), *, noise: float = 12.0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """One tile: ((H, W, 3) uint8 RGB, (H, W) int32 classes)."""
    shape = (size, size) if np.isscalar(size) else tuple(int(s) for s in size)
    classes = region_layout(rng, shape)
    return render_tile(rng, classes, noise=noise), classes


def make_texture_set(n: int, size=(128, 128), *, seed: int = 0, noise: float = 12.0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` tiles as arrays: images (n, H, W, 3) uint8 and labels (n, H, W) int32."""
    rng = np.random.default_rng(seed)
    tiles = [make_texture_tile(rng, size, noise=noise) for _ in range(n)]
    return np.stack([t[0] for t in tiles]), np.stack([t[1] for t in tiles])


def write_texture_set(out_dir, n: int, size=(128, 128), *, seed: int = 0, noise: float = 12.0,
                      prefix: str = "tile", manifest: bool = True) -> list[tuple[Path, Path]]:
    """Write ``out_dir/images/NAME.png`` and colour-coded ``out_dir/labels/NAME.png``.

    Args:
        out_dir: destination folder (created).
        n: number of tiles.
        size: tile (H, W) or one int for square tiles.
        seed: the set is a deterministic function of the seed.
        noise: per-pixel Gaussian noise std (grey levels).
        prefix: file names are ``{prefix}_{i:03d}.png``.
        manifest: also write ``out_dir/manifest.csv`` with header ``image,label``
            and paths relative to ``out_dir``.

    Returns:
        [(image_path, label_path)] in order.
    """
    from PIL import Image

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    images, labels = make_texture_set(n, size, seed=seed, noise=noise)
    pairs = []
    for i, (image, label) in enumerate(zip(images, labels)):
        name = f"{prefix}_{i:03d}.png"
        Image.fromarray(image).save(out_dir / "images" / name)
        write_colour_labels(out_dir / "labels" / name, label)
        pairs.append((out_dir / "images" / name, out_dir / "labels" / name))
    if manifest:
        with open(out_dir / "manifest.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "label"])
            for image_path, label_path in pairs:
                writer.writerow([image_path.relative_to(out_dir).as_posix(),
                                 label_path.relative_to(out_dir).as_posix()])
    return pairs

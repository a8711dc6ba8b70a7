"""Synthetic H&E-like tiles of classified nuclei, for the nuclei tests and demo.

Three nucleus types with the cues a pathologist (and the network) uses:

* tumour (class 0): large (semi-axes 6-9 px), irregular, pale vesicular
  chromatin with texture and often a dark nucleolus;
* lymphocyte (class 1): small (radius 3.5-5 px), round, very dark, uniform;
* stroma (class 2): spindles (semi-axes 7-11 x 2.2-3.2 px), elongated at a
  random angle, medium stain.

About 40 % of nuclei are placed touching an earlier one (their overlap is split
along the line of equal normalised distance, so they share a straight-ish
border). Nuclei may be cut by the tile edge. Colours follow Beer-Lambert with
the Ruifrok-Johnston haematoxylin and eosin optical-density vectors, perturbed
per tile, on a smooth pink eosin background, plus pixel noise. Any tile size
works (e.g. 256 px tiles, larger than a 224 crop).

Labels use the paper's encoding (0 background, class = id % 3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from irpath.io.labels import write_label_image
from irpath.methods.nuclei.labels import encode_label

#: Optical density per unit stain in (R, G, B) (Ruifrok & Johnston 2001).
H_VECTOR = np.array([0.650, 0.704, 0.286])
E_VECTOR = np.array([0.072, 0.990, 0.105])
#: Class frequencies (tumour, lymphocyte, stroma).
CLASS_PROBS = (0.45, 0.30, 0.25)
#: Pixels per nucleus used when ``n_nuclei`` is not given.
AREA_PER_NUCLEUS = 350.0


def _shape(rng, cls: int) -> dict:
    """Random geometry and stain of one nucleus of class ``cls``."""
    if cls == 0:
        a = rng.uniform(6.0, 9.0)
        b, irr, stain = a * rng.uniform(0.7, 0.95), 0.12, rng.uniform(0.55, 0.8)
    elif cls == 1:
        a = rng.uniform(3.5, 5.0)
        b, irr, stain = a * rng.uniform(0.9, 1.0), 0.04, rng.uniform(1.3, 1.6)
    else:
        a, b, irr, stain = rng.uniform(7.0, 11.0), rng.uniform(2.2, 3.2), 0.06, rng.uniform(0.9, 1.1)
    return dict(cls=cls, a=a, b=b, angle=rng.uniform(0, np.pi), stain=stain,
                amps=irr * rng.uniform(0.3, 1.0, 3), phases=rng.uniform(0, 2 * np.pi, 3))


def _place(rng, size: int, nuclei: list, shape: dict, touch: float):
    """A centre for ``shape`` that overlaps no earlier nucleus much, or None."""
    r = 0.5 * (shape["a"] + shape["b"])
    for _ in range(50):
        if nuclei and rng.random() < touch:
            other = nuclei[rng.integers(len(nuclei))]
            d = (0.5 * (other["a"] + other["b"]) + r) * rng.uniform(0.85, 1.0)
            phi = rng.uniform(0, 2 * np.pi)
            centre = other["centre"] + d * np.array([np.sin(phi), np.cos(phi)])
        else:
            centre = rng.uniform(0, size, 2)
        if not (0 <= centre[0] < size and 0 <= centre[1] < size):
            continue
        if all(np.hypot(*(centre - o["centre"])) >= 0.8 * (r + 0.5 * (o["a"] + o["b"]))
               for o in nuclei):
            return centre
    return None


def _level(shape: dict, yy, xx) -> np.ndarray:
    """Normalised radius of pixels (yy, xx) w.r.t. the nucleus outline (< 1 inside)."""
    dy, dx = yy - shape["centre"][0], xx - shape["centre"][1]
    c, s = np.cos(shape["angle"]), np.sin(shape["angle"])
    u, v = (c * dx + s * dy) / shape["a"], (-s * dx + c * dy) / shape["b"]
    theta = np.arctan2(v, u)
    radius = 1.0 + sum(amp * np.cos((m + 2) * theta + ph)
                       for m, (amp, ph) in enumerate(zip(shape["amps"], shape["phases"])))
    return np.hypot(u, v) / radius


def _rasterise(size: int, nuclei: list) -> np.ndarray:
    """(size, size) instance map 1..n: each pixel goes to the nucleus of smallest level < 1."""
    best = np.full((size, size), np.inf)
    owner = np.zeros((size, size), np.int32)
    for k, shape in enumerate(nuclei, start=1):
        reach = int(np.ceil(max(shape["a"], shape["b"]) * (1 + shape["amps"].sum()))) + 1
        cy, cx = (int(round(v)) for v in shape["centre"])
        ys, xs = slice(max(cy - reach, 0), min(cy + reach + 1, size)), slice(max(cx - reach, 0), min(cx + reach + 1, size))
        yy, xx = np.mgrid[ys, xs]
        level = _level(shape, yy.astype(float), xx.astype(float))
        win = (level < 1.0) & (level < best[ys, xs])
        best[ys, xs][win] = level[win]
        owner[ys, xs][win] = k
    # Keep each nucleus's largest connected piece only; drop slivers.
    out = np.zeros_like(owner)
    for k, box in enumerate(ndimage.find_objects(owner), start=1):
        if box is None:
            continue
        pieces, n = ndimage.label(owner[box] == k)
        if n == 0:
            continue
        sizes = np.bincount(pieces.ravel())[1:]
        if sizes.max() >= 8:
            out[box][pieces == 1 + sizes.argmax()] = k
    return out


def _smooth(rng, size: int, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return field / (field.std() + 1e-12)


def _render(rng, size: int, instances: np.ndarray, nuclei: list) -> np.ndarray:
    """Beer-Lambert RGB uint8 image of the nuclei on an eosin background."""
    h_vec = H_VECTOR * rng.uniform(0.9, 1.1, 3)
    e_vec = E_VECTOR * rng.uniform(0.9, 1.1, 3)
    eosin = np.clip(0.3 + 0.08 * _smooth(rng, size, 8.0) + 0.04 * _smooth(rng, size, 2.0), 0.05, None)
    haem = np.full((size, size), 0.03)
    texture = _smooth(rng, size, 1.0)
    for k, shape in enumerate(nuclei, start=1):
        inside = instances == k
        if not inside.any():
            continue
        conc = np.full(int(inside.sum()), shape["stain"])
        if shape["cls"] == 0:  # vesicular chromatin + nucleolus
            conc *= 1.0 + 0.25 * texture[inside]
            yy, xx = np.nonzero(inside)
            d = np.hypot(yy - shape["centre"][0], xx - shape["centre"][1])
            if rng.random() < 0.7:
                conc[d < 1.5] = 1.3
        else:
            conc *= 1.0 + 0.05 * texture[inside]
        haem[inside] = conc
        eosin[inside] *= 0.5
    haem = ndimage.gaussian_filter(haem, 0.6)
    od = haem[..., None] * h_vec + eosin[..., None] * e_vec
    rgb = 255.0 * 10.0 ** (-od) * rng.uniform(0.93, 1.0)
    rgb += rng.normal(0.0, 3.0, rgb.shape)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def make_nuclei_tile(size: int = 64, n_nuclei: int | None = None, seed=0, *,
                     touch: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic tile and its label.

    Args:
        size: tile side in pixels.
        n_nuclei: nuclei to attempt; default ``size**2 / 350`` (some may not fit).
        seed: seed (or ``numpy.random.Generator``).
        touch: probability that a nucleus is placed touching an earlier one.

    Returns:
        ``(rgb, label)``: (size, size, 3) uint8 and (size, size) int32 in the
        id-mod-3 encoding (0 background, class = id % 3).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if n_nuclei is None:
        n_nuclei = max(1, int(round(size * size / AREA_PER_NUCLEUS)))
    nuclei = []
    for _ in range(n_nuclei):
        shape = _shape(rng, int(rng.choice(3, p=CLASS_PROBS)))
        centre = _place(rng, size, nuclei, shape, touch)
        if centre is not None:
            shape["centre"] = centre
            nuclei.append(shape)
    instances = _rasterise(size, nuclei)
    rgb = _render(rng, size, instances, nuclei)
    classes = {k: shape["cls"] for k, shape in enumerate(nuclei, start=1)}
    present = {int(k): classes[int(k)] for k in np.unique(instances) if k > 0}
    return rgb, encode_label(instances, present)


def make_nuclei_dataset(folder, n: int = 8, size: int = 256, seed: int = 0,
                        n_nuclei: int | None = None) -> list[tuple[Path, Path]]:
    """Write ``n`` tiles as ``images/nuclei_XXX.png`` + ``labels/nuclei_XXX.png``.

    Labels are 16-bit PNGs (``.npy`` if an id exceeded 65535).

    Returns:
        ``[(image path, label path), ...]`` in order.
    """
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(n):
        rgb, label = make_nuclei_tile(size, n_nuclei, np.random.default_rng([seed, i]))
        name = f"nuclei_{i:03d}"
        image_path = folder / "images" / f"{name}.png"
        Image.fromarray(rgb).save(image_path)
        pairs.append((image_path, write_label_image(folder / "labels" / f"{name}.png", label)))
    return pairs

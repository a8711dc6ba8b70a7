"""IR tissue-microarray spots of the second bed (CompSegNet), written apart from
:mod:`irpath.demo.synthetic` (nothing of it is imported: its own spectra, layouts and noise).

* **Spectra**: each tissue class is a mixture of six biochemical components (protein,
  collagen, nucleic acid, glycogen, lipid, mucin); each component is a sum of *asymmetric
  Gaussian* bands (a different width either side of the centre) at positions of its own on
  the same axis, 450 points from 1800 down to 948 cm^-1. Tumour has more nucleic acid, less
  glycogen and collagen than benign epithelium, and a 3 cm^-1 lower amide I.
* **Layouts**: a core of 70-95 % of the image, sometimes torn (a crack) and with fat holes;
  benign ducts (epithelial rings around an empty lumen) in every spot; in cancer spots the
  tumour is one of three layouts -- ``glands`` (many small acini), ``ducts`` (elongated
  tubes) or ``blobs`` (a few large smooth masses) -- with its objects scaled 0.25x-4x
  (:data:`OBJECT_SCALE`) and covering 3-60 % of the tissue (:data:`TUMOUR_FRACTION`).
* **Noise**: spectrally and spatially correlated Gaussian noise, a per-pixel cubic baseline
  drift, and a van de Hulst (Mie-like) scatter term whose particle size and amplitude vary
  per spot and smoothly within it.

The background is exactly 0 (that is how the loader finds the tissue). Spot labels are
cancer (1) / cancer-free (0); tumour masks are written for evaluation only.

``make_bed(out_dir, ...)`` writes ``out_dir/<split>/spot_NNN.hdr`` (+ ``.img``, ENVI, float32),
``spot_NNN_mask.png`` (0/255) and ``manifest.csv`` (``image,label,mask``), the layout
``irpath train compsegnet`` reads. ``python -m irpath.demo.bed2.spots OUT`` writes one.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

AXIS = np.linspace(1800.0, 948.0, 450)
LAYOUTS = ("glands", "ducts", "blobs")
TUMOUR_FRACTION = (0.03, 0.60)  # of the tissue, cancer spots
OBJECT_SCALE = (0.25, 4.0)      # relative to a reference object of 0.10 x the spot size
SIZE_RANGE = (32, 48)

# Components: (centre cm^-1, half width left, half width right, height), as asymmetric Gaussians.
COMPONENTS = {
    "protein": [(1652, 22, 30, 1.0), (1548, 24, 20, 0.62), (1452, 14, 14, 0.13),
                (1398, 14, 16, 0.11), (1312, 18, 18, 0.05), (1244, 20, 24, 0.06)],
    "collagen": [(1660, 20, 28, 1.0), (1552, 20, 20, 0.52), (1454, 12, 12, 0.14),
                 (1402, 14, 14, 0.12), (1338, 8, 8, 0.13), (1282, 9, 9, 0.12),
                 (1236, 10, 10, 0.11), (1204, 9, 9, 0.10), (1032, 12, 12, 0.05)],
    "nucleic": [(1713, 12, 12, 0.20), (1240, 18, 22, 0.75), (1088, 14, 16, 0.80),
                (1058, 10, 10, 0.25), (968, 8, 10, 0.22)],
    "glycogen": [(1152, 10, 12, 0.45), (1078, 12, 12, 0.60), (1024, 12, 14, 1.0)],
    "lipid": [(1738, 10, 12, 1.0), (1466, 10, 10, 0.35), (1170, 14, 14, 0.25)],
    "mucin": [(1375, 16, 16, 0.25), (1120, 20, 20, 0.40), (1072, 26, 26, 0.55),
              (1042, 26, 30, 0.60)],
}
#: Component concentrations per class: stroma, benign epithelium, tumour.
MIXTURES = np.array([
    # protein collagen nucleic glycogen lipid mucin
    [0.55, 0.40, 0.030, 0.010, 0.020, 0.010],  # stroma
    [0.80, 0.03, 0.070, 0.090, 0.040, 0.080],  # benign epithelium
    [0.82, 0.03, 0.150, 0.030, 0.050, 0.030],  # tumour
])
AMIDE_SHIFT_TUMOUR = -3.0  # cm^-1


def component_spectra(axis=AXIS, amide_shift: float = 0.0) -> np.ndarray:
    """(6, C) unit spectra of :data:`COMPONENTS`; ``amide_shift`` moves protein's amide I."""
    axis = np.asarray(axis, np.float64)
    out = np.zeros((len(COMPONENTS), axis.size))
    for k, bands in enumerate(COMPONENTS.values()):
        for i, (centre, left, right, height) in enumerate(bands):
            if k == 0 and i == 0:
                centre = centre + amide_shift
            width = np.where(axis < centre, left, right)
            out[k] += height * np.exp(-0.5 * ((axis - centre) / width) ** 2)
    return out


def _field(rng, shape, sigma, channels: int = 0) -> np.ndarray:
    """Smooth random field with zero mean and unit sd (per channel if ``channels``)."""
    full = tuple(shape) + ((channels,) if channels else ())
    sig = (sigma, sigma) + ((0,) if channels else ())
    f = ndi.gaussian_filter(rng.standard_normal(full), sig, mode="reflect")
    f = f - f.mean(axis=(0, 1))
    return f / (f.std(axis=(0, 1)) + 1e-12)


def _core(rng, size: int) -> np.ndarray:
    """The tissue core: a lumpy disc of 70-95 % of ``size``, maybe torn, with fat holes."""
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    angle = np.arctan2(yy, xx)
    radius = size / 2 * rng.uniform(0.70, 0.95)
    wobble = sum(rng.uniform(0, 0.06) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    core = np.hypot(yy, xx) <= radius * (1 + wobble)
    if rng.random() < 0.4:  # a crack across the core
        theta, offset = rng.uniform(0, np.pi), rng.uniform(-0.3, 0.3) * radius
        dist = np.abs(xx * np.cos(theta) + yy * np.sin(theta) - offset)
        core &= dist > rng.uniform(0.6, 1.6)
    for _ in range(int(rng.integers(0, 4))):  # fat holes
        cy, cx = rng.uniform(-radius * 0.7, radius * 0.7, 2)
        core &= np.hypot(yy - cy, xx - cx) > rng.uniform(0.8, 2.2) * size / 48
    return core


def _ducts(rng, size: int, core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Benign ducts: (epithelial ring, lumen) masks inside ``core``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    ring, lumen = np.zeros_like(core), np.zeros_like(core)
    ys, xs = np.nonzero(core)
    for _ in range(int(rng.integers(2, 6))):
        i = rng.integers(ys.size)
        r = size * rng.uniform(0.05, 0.09)
        d = np.hypot((yy - ys[i]) / rng.uniform(0.7, 1.0), xx - xs[i])
        ring |= d <= r
        lumen |= d <= r * rng.uniform(0.35, 0.55)
    return ring & core & ~lumen, lumen & core


def _objects(rng, size: int, tissue: np.ndarray, layout: str, scale: float) -> np.ndarray:
    """(H, W) score field whose top quantile is the tumour: kernels at object positions."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    ref = 0.10 * size * scale  # reference object radius in pixels
    ys, xs = np.nonzero(tissue)
    score = np.zeros((size, size))
    if layout == "blobs":
        n, spread = int(rng.integers(1, 4)), 1.0
    elif layout == "glands":
        n, spread = int(rng.integers(6, 16)), 0.35
    else:
        n, spread = int(rng.integers(2, 5)), 0.4
    centre = rng.integers(ys.size)
    for _ in range(n):
        if layout == "glands":  # acini cluster around one focus
            cy, cx = np.array([ys[centre], xs[centre]]) + rng.normal(0, 1.2 * ref + 1, 2)
        else:
            i = rng.integers(ys.size)
            cy, cx = ys[i], xs[i]
        r = max(0.8, ref * spread * rng.uniform(0.7, 1.3))
        if layout == "ducts":  # a tube: a segment of length 3-6 radii
            theta, half = rng.uniform(0, np.pi), r * rng.uniform(1.5, 3.0)
            u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
            v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
            d = np.hypot(np.clip(np.abs(u) - half, 0, None), v)
        else:
            d = np.hypot(yy - cy, xx - cx)
        score = np.maximum(score, np.exp(-0.5 * (d / r) ** 2))
    return score + 0.05 * _field(rng, (size, size), max(1.0, ref / 2))


def spot_classes(rng, size: int, cancer: bool, *, fraction=None, layout=None, scale=None):
    """One spot's class map and its tumour parameters.

    Returns:
        ``(classes, info)``: (H, W) int8, 0 background (outside, lumens, cracks, holes),
        1 stroma, 2 benign epithelium, 3 tumour; ``info`` {"layout", "scale", "fraction"}
        with the tumour's measured share of the tissue (0 for cancer-free spots).
    """
    core = _core(rng, size)
    ring, lumen = _ducts(rng, size, core)
    tissue = core & ~lumen
    classes = np.where(ring, 2, 1).astype(np.int8) * tissue
    info = {"layout": None, "scale": None, "fraction": 0.0}
    if cancer:
        layout = layout or LAYOUTS[int(rng.integers(len(LAYOUTS)))]
        scale = scale or float(np.exp(rng.uniform(*np.log(OBJECT_SCALE))))
        target = fraction or float(rng.uniform(*TUMOUR_FRACTION))
        score = _objects(rng, size, tissue, layout, scale)
        tumour = tissue & (score >= np.quantile(score[tissue], 1 - target))
        classes[tumour] = 3
        info = {"layout": layout, "scale": scale, "fraction": float(tumour.sum() / tissue.sum())}
    return classes, info


def _mie(axis, radius_um, rel_index) -> np.ndarray:
    """van de Hulst extinction efficiency Q(rho), rho = 4 pi a (n - 1) nu, normalised to max 1."""
    rho = 4 * np.pi * radius_um * 1e-4 * rel_index * np.asarray(axis)[..., :]
    q = 2 - 4 / rho * np.sin(rho) + 4 / rho ** 2 * (1 - np.cos(rho))
    return q / q.max()


def render(rng, classes: np.ndarray, axis=AXIS, *, noise: float = 1.0) -> np.ndarray:
    """(H, W, C) float32 absorbance of a class map, exactly 0 where ``classes == 0``."""
    shape, tissue = classes.shape, classes > 0
    size = max(shape)
    comps = component_spectra(axis)
    tumour_comps = component_spectra(axis, AMIDE_SHIFT_TUMOUR)
    onehot = (classes[..., None] == np.arange(1, 4)).astype(float)
    mix = ndi.gaussian_filter(onehot, (0.7, 0.7, 0))
    mix /= np.maximum(mix.sum(-1, keepdims=True), 1e-12)
    conc = MIXTURES * np.exp(0.10 * rng.standard_normal(MIXTURES.shape))  # per spot
    pixel_conc = np.einsum("hwk,kc->hwc", mix, conc)
    pixel_conc *= np.exp(0.05 * _field(rng, shape, 1.5, channels=conc.shape[1]))
    # the tumour share of each pixel carries the shifted amide I
    spectra = np.einsum("hwc,cn->hwn", pixel_conc * (1 - mix[..., 2:3]), comps)
    spectra += np.einsum("hwc,cn->hwn", pixel_conc * mix[..., 2:3], tumour_comps)
    thickness = np.clip(rng.uniform(0.8, 1.2) + 0.15 * _field(rng, shape, size / 5), 0.5, 1.5)
    spectra *= 0.6 * thickness[..., None]
    # baseline drift: cubic in wavenumber, smooth coefficients
    nu = np.linspace(-1, 1, axis.size)
    poly = np.stack([np.ones_like(nu), nu, 1.5 * nu ** 2 - 0.5, 2.5 * nu ** 3 - 1.5 * nu])
    coef = _field(rng, shape, size / 4, channels=4) * np.array([0.010, 0.012, 0.006, 0.004])
    coef[..., 0] += rng.uniform(0.0, 0.03)
    spectra += coef @ poly
    # Mie-like scatter (van de Hulst), per spot particle size, smoothly varying amplitude
    q = _mie(axis, rng.uniform(2.0, 8.0), rng.uniform(0.2, 0.5))
    amp = rng.uniform(0.02, 0.08) * np.clip(1 + 0.4 * _field(rng, shape, size / 5), 0.2, None)
    spectra += amp[..., None] * q
    # correlated noise: smooth along the spectrum, partly shared between neighbouring pixels
    sd = noise * rng.uniform(0.004, 0.010)
    white = ndi.gaussian_filter(rng.standard_normal(shape + (axis.size,)), (0.8, 0.8, 2.0))
    spectra += sd * white / white.std()
    cube = np.zeros(shape + (axis.size,), np.float32)
    cube[tissue] = spectra[tissue]
    return cube


def _write_spot(folder: Path, name: str, cube, tumour, description: str):
    import spectral.io.envi as envi
    from PIL import Image

    envi.save_image(str(folder / f"{name}.hdr"), cube, interleave="bsq", byteorder=0, force=True,
                    metadata={"wavelength": [f"{w:.4f}" for w in AXIS],
                              "wavelength units": "cm-1", "description": description})
    Image.fromarray(tumour.astype(np.uint8) * 255).save(folder / f"{name}_mask.png")
    return f"{name}.hdr", f"{name}_mask.png"


def make_bed(out_dir, *, n_train: int = 16, n_val: int = 6, n_test: int = 12, seed: int = 0,
             size_range=SIZE_RANGE, noise: float = 1.0) -> dict:
    """Write the bed: per split ``spot_NNN`` ENVI cubes, masks and ``manifest.csv``.

    Each split is balanced (``n // 2`` cancer spots, seeded order); each spot's size is drawn
    from ``size_range``. Also writes ``<split>/spots.json`` with every spot's layout, object
    scale and tumour fraction. Returns ``{"train": Path, "val": Path, "test": Path}``
    (the manifests).
    """
    import json

    out_dir = Path(out_dir)
    result = {}
    for k, (split, n) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        folder = out_dir / split
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, 7919, k])
        labels = rng.permutation(np.arange(n) < n // 2).astype(int)
        rows, infos = [], []
        for i, label in enumerate(labels):
            size = int(rng.integers(size_range[0], size_range[1] + 1))
            classes, info = spot_classes(rng, size, bool(label))
            cube = render(rng, classes, noise=noise)
            desc = f"irpath bed-2 IR spot ({split} {i}, label {label}, seed {seed})"
            image, mask = _write_spot(folder, f"spot_{i:03d}", cube, classes == 3, desc)
            rows.append([image, int(label), mask])
            infos.append({"image": image, "label": int(label), "size": size, **info})
        with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["image", "label", "mask"], *rows])
        (folder / "spots.json").write_text(json.dumps(infos, indent=1))
        result[split] = folder / "manifest.csv"
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m irpath.demo.bed2.spots",
                                description="Write the second IR spot bed (train/val/test).")
    p.add_argument("out", help="folder to write into")
    p.add_argument("--n-train", type=int, default=16)
    p.add_argument("--n-val", type=int, default=6)
    p.add_argument("--n-test", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size-range", type=int, nargs=2, default=SIZE_RANGE, metavar=("MIN", "MAX"))
    args = p.parse_args(argv)
    for path in make_bed(args.out, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
                         seed=args.seed, size_range=tuple(args.size_range)).values():
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Tissue masks of H&E slides at a low resolution: Otsu on saturation and optical density.

H&E tissue is coloured (eosin: pink, haematoxylin: purple) or dark; glass is
near-white and grey. On a thumbnail (a low-resolution pyramid level), a pixel is
tissue when its HSV saturation or its optical density is above the Otsu
threshold of the image (each threshold is kept above a floor, so a slide of
bare glass gives no tissue rather than splitting its noise in two). Holes are
filled and objects smaller than ``min_fraction`` of the thumbnail removed.
"""

from __future__ import annotations

import numpy as np

from irpath.errors import ShapeError

#: Thresholds never go below these (saturation in [0, 1]; OD summed over R, G, B).
MIN_SATURATION = 0.07
MIN_DENSITY = 0.25


def _otsu(values: np.ndarray, floor: float) -> float:
    from skimage.filters import threshold_otsu

    if values.size == 0 or float(values.max()) - float(values.min()) < 1e-6:
        return max(floor, float(values.max()) + 1e-6 if values.size else floor)
    return max(floor, float(threshold_otsu(values)))


def rgb_tissue_mask(rgb, *, min_fraction: float = 1e-3) -> np.ndarray:
    """(H, W) bool tissue mask of an RGB thumbnail.

    Args:
        rgb: (H, W, 3) uint8 or float in [0, 255].
        min_fraction: objects (and holes) smaller than this fraction of the image are
            removed (filled).

    Returns:
        (H, W) bool, True on tissue.
    """
    from scipy.ndimage import binary_fill_holes
    from skimage.morphology import remove_small_objects

    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ShapeError(f"a tissue mask needs an (H, W, 3) RGB image, got {rgb.shape}")
    hi, lo = rgb.max(axis=-1), rgb.min(axis=-1)
    sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0)
    od = -np.log((rgb + 1.0) / 256.0).sum(axis=-1)
    mask = (sat > _otsu(sat.ravel(), MIN_SATURATION)) | (od > _otsu(od.ravel(), MIN_DENSITY))
    mask &= od > MIN_DENSITY * 0.5  # white (clipped) pixels are never tissue
    min_size = max(1, int(min_fraction * mask.size))
    mask = binary_fill_holes(mask)
    return remove_small_objects(mask, max_size=min_size) if _new_skimage() else \
        remove_small_objects(mask, min_size=min_size)


def _new_skimage() -> bool:
    import inspect

    from skimage.morphology import remove_small_objects

    return "max_size" in inspect.signature(remove_small_objects).parameters


def upsample_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (h, w) mask to ``shape`` (H, W), pixel centres aligned."""
    h, w = mask.shape
    ys = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(int), h - 1)
    xs = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(int), w - 1)
    return mask[ys[:, None], xs[None, :]]

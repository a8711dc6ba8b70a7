"""Training targets: the 5-class map (with contours) and the weight map of eq. 2.

Target classes (Qu et al. 2019, Sec. 2.2), one integer per pixel:
0 background, 1 inside tumour, 2 inside lymphocyte, 3 inside stroma (``1 + id % 3``),
4 contour of any nucleus (:data:`CONTOUR`).

Contour width follows the authors' code (``prepare_data.py`` +
``LabelBinarization2``): a nucleus's *inner part* is the nucleus eroded by the
3x3 cross (its pixels whose four neighbours all belong to it), and the contour is
every pixel within Euclidean distance 2 of an inner part that is not inner itself
(skimage ``disk(2)`` dilation). So the contour is ~2 px wide, one pixel on the
nucleus's rim and one just outside it, and touching nuclei are separated by at
least 2 contour pixels. Two additions: the tile edge is not a rim (a nucleus cut
by the tile keeps its inner part up to the edge, so targets of a crop equal the
crop of the targets away from the edge), and nucleus pixels farther than 2 px
from any inner part (nuclei too thin to have one) are contour rather than
background.

Weight map (eq. 2): ``w = 1 + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` at *every*
pixel (the authors' ``weight_map.m`` computes it everywhere and ``train.py``
multiplies the whole cross-entropy map by it; no class-balance term). As there,
``d_k`` is the distance to the k-th nearest nucleus *boundary* (its pixels with a
4-neighbour outside it): outside a nucleus this equals the distance to the
nucleus itself (the nearest pixel of a set is always on its boundary), inside it
``d1`` is the distance to its own rim. With fewer than two nuclei ``w = 1``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from irpath.errors import ShapeError

BACKGROUND, CONTOUR, N_CLASSES = 0, 4, 5
#: The paper's eq. 2 constants.
W0, SIGMA = 10.0, 5.0
#: The contour reaches this far (Euclidean, px) from the inner parts (authors: disk(2)).
CONTOUR_RADIUS = 2.0


def _check_label(label) -> np.ndarray:
    label = np.asarray(label)
    if label.ndim != 2:
        raise ShapeError(f"a nuclei label image must be 2-D (H, W), got shape {label.shape}")
    return label.astype(np.int64)


def inner_mask(label) -> np.ndarray:
    """Nuclei eroded by the 3x3 cross, each on its own (the tile edge does not erode).

    Args:
        label: (H, W) id-mod-3 label image (or any instance map).

    Returns:
        (H, W) bool: pixels whose 4 neighbours carry the same nonzero id.
    """
    label = _check_label(label)
    padded = np.pad(label, 1, mode="edge")
    same = label > 0
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        same &= padded[dy:dy + label.shape[0], dx:dx + label.shape[1]] == label
    return same


def five_class_target(label) -> np.ndarray:
    """The 5-class target of an id-mod-3 label image.

    Args:
        label: (H, W) integer label image (0 background, class = id % 3).

    Returns:
        (H, W) uint8 in {0..4}: background, inside tumour/lymphocyte/stroma, contour.
    """
    label = _check_label(label)
    inner = inner_mask(label)
    target = np.zeros(label.shape, np.uint8)
    target[inner] = 1 + label[inner] % 3
    if inner.any():
        near = ndimage.distance_transform_edt(~inner) <= CONTOUR_RADIUS
    else:
        near = np.zeros(label.shape, bool)
    target[(near | (label > 0)) & ~inner] = CONTOUR
    return target


def boundary_mask(label) -> np.ndarray:
    """Nucleus pixels with a 4-neighbour outside their nucleus (the image edge counts as outside)."""
    label = _check_label(label)
    padded = np.pad(label, 1, mode="constant")
    inside_all = label > 0
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        inside_all &= padded[dy:dy + label.shape[0], dx:dx + label.shape[1]] == label
    return (label > 0) & ~inside_all


def _sequential(label: np.ndarray) -> np.ndarray:
    """Renumber ids to 1..n (0 stays background), so find_objects stays short."""
    ids, seq = np.unique(label, return_inverse=True)
    seq = seq.reshape(label.shape)
    return seq if ids[0] == 0 else seq + 1


def weight_margin(w0: float = W0, sigma: float = SIGMA, tol: float = 1e-3) -> int:
    """Distance beyond which ``exp(-d**2 / (2 sigma**2)) < tol``: the box margin of :func:`weight_map`."""
    del w0  # the bound is relative to w0
    return int(math.ceil(sigma * math.sqrt(2.0 * math.log(1.0 / tol))))


def weight_map(label, w0: float = W0, sigma: float = SIGMA, tol: float = 1e-3) -> np.ndarray:
    """Eq. 2 with per-nucleus distance transforms on boxes grown by a margin.

    For each nucleus, the exact Euclidean distance to its boundary is computed
    only inside its bounding box grown by ``m = weight_margin(sigma, tol)`` px;
    every pixel within distance m of the boundary lies in that box (box distance
    <= Euclidean distance) and all boundary pixels do too, so the distance there
    is exact. Each pixel keeps its two smallest distances (d1 <= d2). A pixel
    whose true d2 exceeds m has ``d1 + d2 > m`` and so a true term below
    ``w0 * tol``; it may get d2 = inf and the term 0, an error < ``w0 * tol``.
    Elsewhere the result is exact. Cost: O(sum of grown box areas), not
    O(n_nuclei * H * W).

    Args:
        label: (H, W) instance or id-mod-3 label image.
        w0, sigma: eq. 2 constants (paper: 10 and 5 px).
        tol: relative error bound of the truncated term.

    Returns:
        (H, W) float32 weights in [1, 1 + w0].
    """
    label = _sequential(_check_label(label))
    h, w = label.shape
    margin = weight_margin(w0, sigma, tol)
    boundary = boundary_mask(label)
    d1 = np.full(label.shape, np.inf, np.float64)
    d2 = np.full(label.shape, np.inf, np.float64)
    for index, box in enumerate(ndimage.find_objects(label), start=1):
        if box is None:
            continue
        y0, y1 = max(box[0].start - margin, 0), min(box[0].stop + margin, h)
        x0, x1 = max(box[1].start - margin, 0), min(box[1].stop + margin, w)
        crop = (slice(y0, y1), slice(x0, x1))
        rim = boundary[crop] & (label[crop] == index)
        dist = ndimage.distance_transform_edt(~rim)
        near1, near2 = d1[crop], d2[crop]
        near2[...] = np.minimum(near2, np.maximum(near1, dist))
        near1[...] = np.minimum(near1, dist)
    return _eq2(d1, d2, w0, sigma)


def _eq2(d1, d2, w0, sigma) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        term = w0 * np.exp(-((d1 + d2) ** 2) / (2.0 * sigma ** 2))
    return (1.0 + np.nan_to_num(term, nan=0.0)).astype(np.float32)


def pack_targets(label, *, w0: float = W0, sigma: float = SIGMA) -> np.ndarray:
    """``y_true`` for :class:`irpath.losses.nuclei.NucleiLoss`: (H, W, 2) float32 [class, weight]."""
    return np.stack([five_class_target(label).astype(np.float32),
                     weight_map(label, w0=w0, sigma=sigma)], axis=-1)

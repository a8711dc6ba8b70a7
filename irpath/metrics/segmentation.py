"""Pixel-level segmentation metrics: Dice, thresholding, tumour fraction.

Pure numpy: arrays in, numbers out. Maps are (H, W) (any shape works as long as
the arrays passed together match).
"""

from __future__ import annotations

import numpy as np

#: The paper's activation threshold (0.35 * 255 on 8-bit maps).
DEFAULT_THRESHOLD = 0.35


def _same_shape(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {a.shape} and {b.shape}")


def threshold_map(prob_map, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Active pixels of an activation map.

    Args:
        prob_map: (H, W) activations in [0, 1].
        threshold: a pixel is active if its activation is >= ``threshold``.

    Returns:
        (H, W) bool.
    """
    return np.asarray(prob_map) >= threshold


def dice(pred, target) -> float:
    """Dice coefficient 2|P & T| / (|P| + |T|) of two binary masks.

    Args:
        pred: (H, W) bool (nonzero = inside), e.g. a thresholded activation map.
        target: (H, W) bool ground truth.

    Returns:
        Dice in [0, 1]; 1.0 when both masks are empty.
    """
    pred, target = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    _same_shape(pred, target, "pred and target")
    total = int(pred.sum()) + int(target.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred, target).sum()) / total


def tumour_fraction(prob_map, tissue, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Fraction of the tissue that is active: the spot's relative tumour content.

    Args:
        prob_map: (H, W) activations in [0, 1].
        tissue: (H, W) bool tissue mask; pixels outside it are ignored.
        threshold: activation threshold (see :func:`threshold_map`).

    Returns:
        active tissue pixels / tissue pixels, in [0, 1]; 0.0 when ``tissue`` is empty.
    """
    prob_map, tissue = np.asarray(prob_map), np.asarray(tissue).astype(bool)
    _same_shape(prob_map, tissue, "prob_map and tissue")
    n_tissue = int(tissue.sum())
    if n_tissue == 0:
        return 0.0
    return int((threshold_map(prob_map, threshold) & tissue).sum()) / n_tissue


def pooled_activation(prob_map, tissue) -> float:
    """Mean activation over the tissue: the input of CompSegNet's pooling neuron, so it
    ranks spots as the trained spot output does, with no threshold.

    Args:
        prob_map: (H, W) activations in [0, 1].
        tissue: (H, W) bool tissue mask; pixels outside it are ignored.

    Returns:
        mean of ``prob_map`` over ``tissue``; 0.0 when ``tissue`` is empty.
    """
    prob_map, tissue = np.asarray(prob_map), np.asarray(tissue).astype(bool)
    _same_shape(prob_map, tissue, "prob_map and tissue")
    return float(prob_map[tissue].mean()) if tissue.any() else 0.0

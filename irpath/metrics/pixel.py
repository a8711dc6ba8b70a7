"""Pixel-level metrics: binary masks and activation maps, and multi-class label maps.

Pure numpy: arrays in, numbers out. Arrays passed together must have one shape,
usually (H, W) (a stack (N, H, W) works too).

* Binary masks and activation maps: :func:`threshold_map`, :func:`dice`,
  :func:`tumour_fraction`, :func:`pooled_activation`. Activation maps hold values
  in [0, 1]; masks are bool (nonzero = inside).
* Multi-class label maps (integer class labels): :func:`confusion_matrix`,
  :func:`pixel_accuracy`, :func:`per_class_iou`, :func:`per_class_dice`,
  :func:`mean_iou`, :func:`pixel_report`.

Convention: in a confusion matrix ``cm`` of shape (K, K), **rows are the ground
truth and columns the prediction**, so ``cm[t, p]`` counts pixels of true class
``t`` predicted as ``p``. Row sums are the true class sizes, column sums the
predicted ones, and the diagonal the correctly labelled pixels.

A class absent from both the prediction and the ground truth has no defined IoU
or Dice: it is NaN in the per-class arrays, skipped by the means, and ``None``
in :func:`pixel_report`'s JSON-ready dict.
"""

from __future__ import annotations

import math

import numpy as np

from irpath.errors import InvalidValuesError, ShapeError

# -- binary masks and activation maps --------------------------------------------------

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


# -- multi-class label maps ------------------------------------------------------------

def _labels(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise InvalidValuesError(f"{name} must hold integer class labels, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def confusion_matrix(pred, target, n_classes: int, ignore: int | None = None) -> np.ndarray:
    """Pixel confusion matrix, rows = ground truth, columns = prediction.

    Args:
        pred: (...) integer predicted classes in [0, n_classes).
        target: (...) integer true classes, same shape as ``pred``, in
            [0, n_classes) or equal to ``ignore``.
        n_classes: K, the number of classes.
        ignore: a ``target`` value (e.g. 255) whose pixels are left out entirely,
            whatever was predicted there; None keeps every pixel.

    Returns:
        (K, K) int64: ``cm[t, p]`` = number of pixels with true class ``t`` and
        predicted class ``p``.

    Raises:
        ShapeError: ``pred`` and ``target`` differ in shape.
        InvalidValuesError: non-integer labels, or a label outside [0, K) (other
            than ``ignore`` in ``target``).
    """
    if int(n_classes) < 1:
        raise InvalidValuesError(f"n_classes must be >= 1, got {n_classes}")
    k = int(n_classes)
    pred, target = _labels(pred, "pred"), _labels(target, "target")
    if pred.shape != target.shape:
        raise ShapeError(f"pred and target must have the same shape, got {pred.shape} "
                         f"and {target.shape}")
    pred, target = pred.ravel(), target.ravel()
    if ignore is not None:
        keep = target != ignore
        pred, target = pred[keep], target[keep]
    for name, a in (("pred", pred), ("target", target)):
        if a.size and (a.min() < 0 or a.max() >= k):
            bad = a[(a < 0) | (a >= k)][0]
            raise InvalidValuesError(f"{name} holds label {bad}, outside [0, {k}) "
                                     f"(n_classes={k}, ignore={ignore})")
    return np.bincount(target * k + pred, minlength=k * k).reshape(k, k).astype(np.int64)


def _accuracy(cm: np.ndarray) -> float:
    total = int(cm.sum())
    return float(np.trace(cm)) / total if total else math.nan


def pixel_accuracy(pred, target, n_classes: int, ignore: int | None = None) -> float:
    """Fraction of (non-ignored) pixels whose predicted class is the true one.

    Args:
        pred, target, n_classes, ignore: as for :func:`confusion_matrix`.

    Returns:
        Accuracy in [0, 1]; NaN when no pixel is left to count.
    """
    return _accuracy(confusion_matrix(pred, target, n_classes, ignore))


def _per_class(cm, numerator_scale: float, subtract_tp: bool) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ShapeError(f"confusion matrix must be square (K, K), got shape {cm.shape}")
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0).astype(np.float64) + cm.sum(axis=1)
    if subtract_tp:
        denom -= tp
    out = np.full(tp.shape, np.nan)
    present = denom > 0
    out[present] = numerator_scale * tp[present] / denom[present]
    return out


def per_class_iou(cm) -> np.ndarray:
    """Intersection over union per class, TP / (TP + FP + FN).

    Args:
        cm: (K, K) confusion matrix, rows = ground truth, columns = prediction.

    Returns:
        (K,) float64; NaN for a class absent from both prediction and ground truth.
    """
    return _per_class(cm, 1.0, subtract_tp=True)


def per_class_dice(cm) -> np.ndarray:
    """Dice per class, 2 TP / (2 TP + FP + FN).

    Args:
        cm: (K, K) confusion matrix, rows = ground truth, columns = prediction.

    Returns:
        (K,) float64; NaN for a class absent from both prediction and ground truth.
    """
    return _per_class(cm, 2.0, subtract_tp=False)


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def mean_iou(cm) -> float:
    """Mean of :func:`per_class_iou` over the classes where it is defined.

    Args:
        cm: (K, K) confusion matrix, rows = ground truth, columns = prediction.

    Returns:
        mIoU in [0, 1]; NaN when no class occurs at all (empty matrix).
    """
    return _nanmean(per_class_iou(cm))


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def pixel_report(pred, target, n_classes: int, class_names=None,
                 ignore: int | None = None) -> dict:
    """All pixel metrics in one JSON-ready dict (plain ints, floats, lists, None).

    Args:
        pred, target, n_classes, ignore: as for :func:`confusion_matrix`.
        class_names: K names; default ``"0"``, ``"1"``, ...

    Returns:
        ``{"class_names": [...], "confusion_matrix": K lists of K ints (rows =
        ground truth, columns = prediction), "pixel_accuracy": float,
        "mean_iou": float, "mean_dice": float, "iou": {name: float},
        "dice": {name: float}}``; an undefined value (NaN) is ``None``.

    Raises:
        InvalidValuesError: ``class_names`` does not hold K distinct names (and
            the errors of :func:`confusion_matrix`).
    """
    k = int(n_classes)
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k or len(set(names)) != k:
        raise InvalidValuesError(f"class_names must hold {k} distinct names, got {names}")
    cm = confusion_matrix(pred, target, k, ignore)
    iou, dsc = per_class_iou(cm), per_class_dice(cm)
    return {
        "class_names": names,
        "confusion_matrix": cm.tolist(),
        "pixel_accuracy": _json_float(_accuracy(cm)),
        "mean_iou": _json_float(_nanmean(iou)),
        "mean_dice": _json_float(_nanmean(dsc)),
        "iou": {n: _json_float(v) for n, v in zip(names, iou)},
        "dice": {n: _json_float(v) for n, v in zip(names, dsc)},
    }

"""Losses of the VGG16-FCN (Abdulhamid, Sec. 4.3 and 6.2) on softmax probability maps.

All take ``y_pred`` as (N, H, W, K) probabilities (the model ends in a
softmax) and ``y_true`` either as integer classes (N, H, W) / (N, H, W, 1) or
as one-hot (N, H, W, K) maps (recognised by a last axis of size K > 1).

* :class:`SoftmaxCrossEntropy`: per-pixel −Σ_k y_k log p_k (the paper's default).
* :class:`L1L2Loss`: per-pixel λ1·Σ_k |y_k − p_k| + λ2·Σ_k (y_k − p_k)².
  The paper writes λ1‖y−ŷ‖₁ + λ2‖y−ŷ‖₂ per image; we use the per-pixel mean of
  the L1 norm and of the *squared* L2 norm over the class axis, so the value
  does not grow with image size and the L2 term is differentiable at 0.
* :class:`TotalVariation`: the neighbour-smoothness penalty the paper proposes
  (Sec. 6.2): mean over all horizontal and vertical 4-neighbour pixel pairs of
  Σ_k |p_k(a) − p_k(b)|, per image.
* :class:`SegmentationLoss`: ``kind`` ("ce" or "l1l2") + ``tv_weight`` · TV.

The per-pixel losses return (N, H, W) so Keras' default reduction
("sum_over_batch_size") gives the paper's mean over images of the mean over
pixels, and per-pixel ``sample_weight`` masks work. SegmentationLoss adds each
image's TV term to every one of its pixels, which leaves that mean unchanged.
"""

from __future__ import annotations

import keras
from keras import ops

KINDS = ("ce", "l1l2")


def one_hot_targets(y_true, y_pred):
    """y_true as (N, H, W, K) float one-hot maps matching ``y_pred`` (N, H, W, K)."""
    k = y_pred.shape[-1]
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == k and k != 1:
        return ops.cast(y_true, y_pred.dtype)
    if len(y_true.shape) == len(y_pred.shape):  # (N, H, W, 1) integer classes
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.one_hot(ops.cast(y_true, "int32"), k, dtype=y_pred.dtype)


def softmax_cross_entropy(y_true, y_pred, epsilon: float = 1e-7):
    """(N, H, W) per-pixel cross-entropy of probabilities ``y_pred`` (clipped to [ε, 1])."""
    target = one_hot_targets(y_true, y_pred)
    probs = ops.clip(y_pred, epsilon, 1.0)
    return -ops.sum(target * ops.log(probs), axis=-1)


def l1_l2(y_true, y_pred, l1: float = 1.0, l2: float = 1.0):
    """(N, H, W) per-pixel l1·Σ_k|y−p| + l2·Σ_k(y−p)²."""
    diff = one_hot_targets(y_true, y_pred) - y_pred
    return l1 * ops.sum(ops.abs(diff), axis=-1) + l2 * ops.sum(ops.square(diff), axis=-1)


def total_variation(y_pred):
    """(N,) anisotropic total variation of (N, H, W, K) maps.

    Mean over the (H−1)·W vertical and H·(W−1) horizontal neighbour pairs of
    Σ_k |p_k(a) − p_k(b)|; 0 for a constant map, at most 2 for probabilities.
    """
    dy = ops.sum(ops.abs(y_pred[:, 1:, :, :] - y_pred[:, :-1, :, :]), axis=(1, 2, 3))
    dx = ops.sum(ops.abs(y_pred[:, :, 1:, :] - y_pred[:, :, :-1, :]), axis=(1, 2, 3))
    shape = ops.shape(y_pred)
    h, w = ops.cast(shape[1], y_pred.dtype), ops.cast(shape[2], y_pred.dtype)
    pairs = ops.maximum((h - 1.0) * w + h * (w - 1.0), 1.0)
    return (dy + dx) / pairs


@keras.saving.register_keras_serializable(package="irpath")
class SoftmaxCrossEntropy(keras.losses.Loss):
    """Pixel-wise cross-entropy of softmax probabilities (the paper's main loss)."""

    def __init__(self, epsilon: float = 1e-7, name="softmax_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        return softmax_cross_entropy(y_true, y_pred, self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="irpath")
class L1L2Loss(keras.losses.Loss):
    """λ1·L1 + λ2·L2 between one-hot targets and probabilities (see module docstring)."""

    def __init__(self, l1: float = 1.0, l2: float = 1.0, name="l1_l2", **kwargs):
        super().__init__(name=name, **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, y_true, y_pred):
        return l1_l2(y_true, y_pred, self.l1, self.l2)

    def get_config(self):
        config = super().get_config()
        config.update(l1=self.l1, l2=self.l2)
        return config


@keras.saving.register_keras_serializable(package="irpath")
class TotalVariation(keras.losses.Loss):
    """``weight`` · total variation of the predicted maps; ``y_true`` is ignored. Returns (N,)."""

    def __init__(self, weight: float = 1.0, name="total_variation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = float(weight)

    def call(self, y_true, y_pred):
        return self.weight * total_variation(y_pred)

    def get_config(self):
        config = super().get_config()
        config.update(weight=self.weight)
        return config


@keras.saving.register_keras_serializable(package="irpath")
class SegmentationLoss(keras.losses.Loss):
    """Data term (``"ce"`` or ``"l1l2"``) plus ``tv_weight`` · total variation.

    Args:
        kind: "ce" (softmax cross-entropy, the paper's final choice) or "l1l2".
        l1, l2: weights λ1, λ2 of the "l1l2" data term (ignored for "ce").
        tv_weight: weight of the neighbour-smoothness term; 0 disables it.
        epsilon: probability floor inside the logarithm of "ce".
    """

    def __init__(self, kind: str = "ce", l1: float = 1.0, l2: float = 1.0, tv_weight: float = 0.0,
                 epsilon: float = 1e-7, name="segmentation_loss", **kwargs):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if tv_weight < 0:
            raise ValueError(f"tv_weight must be >= 0, got {tv_weight}")
        super().__init__(name=name, **kwargs)
        self.kind, self.l1, self.l2 = kind, float(l1), float(l2)
        self.tv_weight, self.epsilon = float(tv_weight), float(epsilon)

    def call(self, y_true, y_pred):
        if self.kind == "ce":
            data = softmax_cross_entropy(y_true, y_pred, self.epsilon)
        else:
            data = l1_l2(y_true, y_pred, self.l1, self.l2)
        if self.tv_weight:
            data = data + self.tv_weight * total_variation(y_pred)[:, None, None]
        return data

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, l1=self.l1, l2=self.l2, tv_weight=self.tv_weight,
                      epsilon=self.epsilon)
        return config

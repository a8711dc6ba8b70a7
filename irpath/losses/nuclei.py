"""The nuclei losses of Qu et al. 2019: pixel-weighted cross-entropy (eq. 1) and, with the
perceptual term of :mod:`irpath.losses.perceptual`, the combined :class:`NucleiLoss` (eq. 4).

The weight map travels inside ``y_true`` so plain ``compile(loss=...)`` + ``fit``
work: ``y_true`` is (N, H, W, 2) float32 with channel 0 the target class index
(0..K-1) and channel 1 the pixel weight ``w_i``
(:func:`irpath.methods.nuclei.targets.pack_targets` builds it). ``y_pred`` is the
network's (N, H, W, K) softmax probabilities.
"""

from __future__ import annotations

import keras
from keras import ops

from irpath.losses.perceptual import PerceptualLoss

_EPS = 1e-7


def weighted_cross_entropy(y_true, y_pred):
    """Per-pixel ``-w_i * log y_i[t_i]``.

    Args:
        y_true: (N, H, W, 2) [class index, weight].
        y_pred: (N, H, W, K) probabilities.

    Returns:
        (N, H, W) per-pixel losses; their mean over all N*H*W pixels is eq. 1.
    """
    target = ops.cast(y_true[..., 0], "int32")
    weight = ops.cast(y_true[..., 1], y_pred.dtype)
    onehot = ops.one_hot(target, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    log_p = ops.log(ops.clip(ops.sum(onehot * y_pred, axis=-1), _EPS, 1.0))
    return -weight * log_p


@keras.saving.register_keras_serializable(package="irpath")
class WeightedCrossEntropy(keras.losses.Loss):
    """Eq. 1 as a Keras loss; the default reduction averages over all pixels."""

    def __init__(self, reduction="sum_over_batch_size", name="weighted_ce", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)

    def call(self, y_true, y_pred):
        return weighted_cross_entropy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="irpath")
class NucleiLoss(keras.losses.Loss):
    """Eq. 4: ``L = L_ce (pixel-weighted) + beta * L_per`` (paper: beta = 0.1).

    ``call`` returns one value per image (its mean weighted CE over pixels plus
    beta times its perceptual loss), so the default reduction gives the
    authors' batch means. Without ``vgg_weights`` the perceptual term is
    disabled (with a warning from :class:`PerceptualLoss`) and L = L_ce.

    Args:
        beta: weight of the perceptual loss.
        vgg_weights: local VGG16 ``.weights.h5`` file, or None.
        contour_channel: the contour class / channel (4).
        input_scale: see :class:`PerceptualLoss`.
    """

    def __init__(self, beta: float = 0.1, vgg_weights=None, contour_channel: int = 4,
                 input_scale: float = PerceptualLoss.DEFAULT_INPUT_SCALE,
                 reduction="sum_over_batch_size", name="nuclei_loss", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.beta = float(beta)
        self.vgg_weights = None if vgg_weights is None else str(vgg_weights)
        self.contour_channel = int(contour_channel)
        self.input_scale = float(input_scale)
        self.perceptual = None
        if self.beta > 0:
            self.perceptual = PerceptualLoss(vgg_weights=self.vgg_weights,
                                             contour_channel=self.contour_channel,
                                             input_scale=self.input_scale)
            if not self.perceptual.enabled:
                self.perceptual = None

    def call(self, y_true, y_pred):
        loss = ops.mean(weighted_cross_entropy(y_true, y_pred), axis=(1, 2))
        if self.perceptual is not None:
            loss = loss + self.beta * self.perceptual.call(y_true, y_pred)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(beta=self.beta, vgg_weights=self.vgg_weights,
                      contour_channel=self.contour_channel, input_scale=self.input_scale)
        return config

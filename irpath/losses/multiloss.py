"""Losses of the multi-loss network (BenTaieb et al. 2016, eqs. 1, 4, 5).

- L_c (eq. 1): the logistic loss on the softmax scores, i.e. Keras'
  ``CategoricalCrossentropy`` on one-hot labels.
- L_s (eq. 4): cross-entropy against the ground truth weighted by the prior,
  −Σ_j (S_j f_j) log P_g + (1 − S_j f_j) log P_b. The prior reaches the loss as
  the third channel of the segmentation output (N, H, W, 3) = (P_g, P_b, f);
  a 2-channel output means f ≡ 1 (plain cross-entropy: the "seg" mode).
- L (eq. 5) = λ L_c + (1 − λ) L_s, through ``compile(loss=..., loss_weights=...)``:
  :func:`multiloss_compile_args` returns both dicts for a mode.
"""

from __future__ import annotations

import keras
from keras import ops

PIXEL_REDUCTIONS = ("mean", "sum")
#: How the prior f enters L_s: "target" (eq. 4 as printed: soft target S·f) or "weight"
#: (binary target S, per-pixel weight 1 + S·f: the prior emphasises salient gland pixels).
PRIOR_USES = ("target", "weight")


def prior_weighted_seg_loss(y_true, y_pred, pixel_reduction: str = "mean", epsilon: float = 1e-7,
                            prior_use: str = "target"):
    """Per-image L_s of eq. 4.

    With ``prior_use="target"`` (eq. 4 literally) each pixel's target is S_j·f_j;
    with ``"weight"`` the target stays S_j and the pixel's cross-entropy is
    multiplied by 1 + S_j·f_j, so the prior up-weights the gland pixels the
    classifier finds salient without pushing any gland target below 0.5 (where
    Ŝ = argmax P would call it background). Without a prior both are plain
    cross-entropy.

    Args:
        y_true: (N, H, W) or (N, H, W, 1) gland mask S (1 gland, 0 background;
            instance labels > 0 count as gland).
        y_pred: (N, H, W, 2) = (P_g, P_b) or (N, H, W, 3) = (P_g, P_b, f).
        pixel_reduction: "mean" over the Ω pixels (default, so λ weighs two
            per-image quantities of similar size; Caffe's softmax losses also
            normalise by the pixel count) or "sum" (eq. 4 literally).
        epsilon: probabilities are clipped to [epsilon, 1] before the log.
        prior_use: "target" or "weight", see above.

    Returns:
        (N,) loss per image.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    s = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    if len(s.shape) == 4:
        s = s[..., 0]
    s = ops.cast(s > 0, y_pred.dtype)
    p_g = ops.clip(y_pred[..., 0], epsilon, 1.0)
    p_b = ops.clip(y_pred[..., 1], epsilon, 1.0)
    if prior_use not in PRIOR_USES:
        raise ValueError(f"prior_use must be one of {PRIOR_USES}, got {prior_use!r}")
    target, weight = s, None
    if y_pred.shape[-1] == 3:
        salient = ops.stop_gradient(s * y_pred[..., 2])
        if prior_use == "target":
            target = salient
        else:
            weight = 1.0 + salient
    per_pixel = -(target * ops.log(p_g) + (1.0 - target) * ops.log(p_b))
    if weight is not None:
        per_pixel = per_pixel * weight
    if pixel_reduction == "sum":
        return ops.sum(per_pixel, axis=(1, 2))
    return ops.mean(per_pixel, axis=(1, 2))


@keras.saving.register_keras_serializable(package="irpath")
class PriorWeightedSegLoss(keras.losses.Loss):
    """Keras loss for :func:`prior_weighted_seg_loss` (eq. 4); y_pred (N, H, W, 2 or 3)."""

    def __init__(self, pixel_reduction: str = "mean", epsilon: float = 1e-7,
                 prior_use: str = "target", reduction="sum_over_batch_size",
                 name="prior_weighted_seg_loss", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        if pixel_reduction not in PIXEL_REDUCTIONS:
            raise ValueError(f"pixel_reduction must be one of {PIXEL_REDUCTIONS}, "
                             f"got {pixel_reduction!r}")
        if prior_use not in PRIOR_USES:
            raise ValueError(f"prior_use must be one of {PRIOR_USES}, got {prior_use!r}")
        self.pixel_reduction = pixel_reduction
        self.epsilon = float(epsilon)
        self.prior_use = prior_use

    def call(self, y_true, y_pred):
        return prior_weighted_seg_loss(y_true, y_pred, self.pixel_reduction, self.epsilon,
                                       self.prior_use)

    def get_config(self):
        config = super().get_config()
        config.update(pixel_reduction=self.pixel_reduction, epsilon=self.epsilon,
                      prior_use=self.prior_use)
        return config


def multiloss_compile_args(mode: str = "joint", lam: float = 0.5,
                           pixel_reduction: str = "mean", prior_use: str = "target") -> dict:
    """``loss`` and ``loss_weights`` for ``model.compile`` of a :func:`build_joint_model` model.

    Args:
        mode: "class" (L_c), "seg" (L_s with f ≡ 1) or "joint" (eq. 5).
        lam: λ of eq. 5 (paper: 0.5); used in "joint" mode only.
        pixel_reduction, prior_use: see :func:`prior_weighted_seg_loss`.

    Returns:
        ``{"loss": {output: loss}, "loss_weights": {output: weight}}``; the
        ``prior`` output has no loss. Targets: ``scores`` one-hot (N, n_classes),
        ``segmentation`` the gland mask (N, H, W, 1).
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    lc = keras.losses.CategoricalCrossentropy(name="logistic_loss")
    ls = PriorWeightedSegLoss(pixel_reduction=pixel_reduction, prior_use=prior_use)
    if mode == "class":
        return {"loss": {"scores": lc}, "loss_weights": {"scores": 1.0}}
    if mode == "seg":
        return {"loss": {"segmentation": ls}, "loss_weights": {"segmentation": 1.0}}
    if mode == "joint":
        return {"loss": {"scores": lc, "segmentation": ls},
                "loss_weights": {"scores": lam, "segmentation": 1.0 - lam}}
    raise ValueError(f"mode must be 'class', 'seg' or 'joint', got {mode!r}")

"""The CompSegNet loss g(I, ℓ) = Σ_j |o(I_j) − α·ℓ(j)| (Schuhmacher et al. 2019, Sec. 3.2).

``signed=True`` is the form the paper's words describe when σ can pass α: cancer
spots contribute α − o (the loss *maximises* their pooled activation, and γ's linear
gain keeps rewarding more tumour where a spot has much more than α), cancer-free
spots o. Below α the two forms are equal; above it |o − α| pushes a cancer spot's
pooled fraction back down to σ⁻¹(α) (≈ 1.45 α for β = 5, γ = 0.001).
"""

from __future__ import annotations

import keras
from keras import ops


def comparative_loss(labels, outputs, alpha: float = 0.1, signed: bool = False):
    """Per-spot terms |o(I_j) − α·ℓ(j)|, or with ``signed`` ℓ(α − o) + (1 − ℓ)·o.

    Args:
        labels: (N,) 1 = cancer, 0 = cancer-free.
        outputs: (N,) pooled outputs o(I_j) of the pooling neuron (≥ 0).
        alpha: the upper bound of σ_{α,β,γ}; cancer spots are driven to α.
        signed: cancer spots are rewarded past α instead of pulled back to it.

    Returns:
        (N,) per-spot loss; the paper's g is their sum.
    """
    labels = ops.reshape(ops.cast(labels, outputs.dtype), ops.shape(outputs))
    if signed:
        return labels * (alpha - outputs) + (1.0 - labels) * outputs
    return ops.abs(outputs - alpha * labels)


@keras.saving.register_keras_serializable(package="irpath")
class ComparativeLoss(keras.losses.Loss):
    """Keras loss for :func:`comparative_loss`; ``reduction="sum"`` gives the paper's Σ_j."""

    def __init__(self, alpha: float = 0.1, signed: bool = False, reduction="sum", name="comparative_loss",
                 **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.alpha = float(alpha)
        self.signed = bool(signed)

    def call(self, y_true, y_pred):
        return comparative_loss(y_true, y_pred, self.alpha, self.signed)

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, signed=self.signed)
        return config

"""The CompSegNet loss g(I, ℓ) = Σ_j |o(I_j) − α·ℓ(j)| (Schuhmacher et al. 2019, Sec. 3.2)."""

from __future__ import annotations

import keras
from keras import ops


def comparative_loss(labels, outputs, alpha: float = 0.1):
    """Per-spot terms |o(I_j) − α·ℓ(j)|.

    Args:
        labels: (N,) 1 = cancer, 0 = cancer-free.
        outputs: (N,) pooled outputs o(I_j) of the pooling neuron.
        alpha: the upper bound of σ_{α,β,γ}; cancer spots are driven to α.

    Returns:
        (N,) per-spot loss; the paper's g is their sum.
    """
    labels = ops.reshape(ops.cast(labels, outputs.dtype), ops.shape(outputs))
    return ops.abs(outputs - alpha * labels)


@keras.saving.register_keras_serializable(package="irpath")
class ComparativeLoss(keras.losses.Loss):
    """Keras loss for :func:`comparative_loss`; ``reduction="sum"`` gives the paper's Σ_j."""

    def __init__(self, alpha: float = 0.1, reduction="sum", name="comparative_loss", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.alpha = float(alpha)

    def call(self, y_true, y_pred):
        return comparative_loss(y_true, y_pred, self.alpha)

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha)
        return config

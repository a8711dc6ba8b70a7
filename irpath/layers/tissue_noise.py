"""Gaussian noise on tissue spectra during training: an input-noise regulariser.

Adding noise to the inputs while training is equivalent, to first order, to a
Tikhonov penalty on the network's input gradients (Bishop 1995, "Training with
noise is equivalent to Tikhonov regularization"): the map may not hinge on
channel-level details that the noise of a few dozen training spots happens to
offer. Unlike ``keras.layers.GaussianNoise`` the background (all-zero spectra
after :class:`~irpath.layers.SpectralStandardise`) stays exactly 0, so training
sees the same spot borders as inference.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="irpath")
class TissueNoise(keras.layers.Layer):
    """(N, H, W, C) -> (N, H, W, C): in training, tissue pixels get N(0, stddev²) per
    channel; background pixels (all channels 0) and inference pass unchanged.

    Args:
        stddev: the noise's standard deviation, in the units of the input
            (standardised spectra: a fraction of each channel's tissue std).
        seed: seeds the noise (None: from Keras' global seed).
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not stddev >= 0:
            raise ValueError(f"stddev must be >= 0, got {stddev}")
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, x, training=None):
        if not training or self.stddev == 0:
            return x
        tissue = ops.cast(ops.any(ops.not_equal(x, 0), axis=-1, keepdims=True), x.dtype)
        noise = keras.random.normal(ops.shape(x), stddev=self.stddev, dtype=x.dtype,
                                    seed=self.seed_generator)
        return x + noise * tissue

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config

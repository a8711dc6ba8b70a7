"""Input preprocessing kept inside the model, so exported models take raw cubes."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="irpath")
class SpectralStandardise(keras.layers.Layer):
    """Per-channel standardisation of absorbance spectra; background stays zero.

    (N, H, W, C) raw cube -> (N, H, W, C). NaN/Inf become 0; pixels whose
    spectrum is all zero (background, as masked by the acquisition software)
    stay exactly 0 after standardisation instead of becoming −mean/std. Under a
    float16/bfloat16 dtype policy the arithmetic is still float32 (the
    statistics are never autocast) and only the result is cast.

    Args:
        mean: (C,) channel means over training tissue pixels.
        std: (C,) channel standard deviations (floored at 1e-6).
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean_init = np.asarray(mean, dtype="float32").reshape(-1)
        self.std_init = np.maximum(np.asarray(std, dtype="float32").reshape(-1), 1e-6)
        if self.mean_init.shape != self.std_init.shape:
            raise ValueError(f"mean {self.mean_init.shape} and std {self.std_init.shape} differ")

    def build(self, input_shape):
        c = self.mean_init.shape[0]
        if input_shape[-1] is not None and input_shape[-1] != c:
            raise ValueError(f"input has {input_shape[-1]} channels, statistics have {c}")
        self.mean = self.add_weight(shape=(c,), initializer=keras.initializers.Constant(self.mean_init),
                                    trainable=False, autocast=False, name="mean")
        self.std = self.add_weight(shape=(c,), initializer=keras.initializers.Constant(self.std_init),
                                   trainable=False, autocast=False, name="std")

    def call(self, x):
        if x.dtype in ("float16", "bfloat16"):
            x = ops.cast(x, "float32")
        # A scalar 0 (not zeros_like) and one reference at a time: an eager call on a whole
        # cube holds the input and at most two cube-sized temporaries, not four.
        x = ops.where(ops.isfinite(x), x, 0.0)
        foreground = ops.cast(ops.any(ops.not_equal(x, 0.0), axis=-1, keepdims=True), x.dtype)
        out = x - ops.cast(self.mean, x.dtype)
        del x
        out = out / ops.cast(self.std, out.dtype)
        out = out * foreground
        return ops.cast(out, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(mean=self.mean_init.tolist(), std=self.std_init.tolist())
        return config

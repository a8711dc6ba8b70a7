"""Pad a batch to a multiple of 2**depth and crop the result back.

A U-Net with 'same' padding and ``depth`` poolings needs H and W divisible by
2**depth so encoder and decoder feature maps line up. These two layers let a
model take any spot size: zeros (background) are added at the bottom/right and
removed again from the output.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="irpath")
class PadToMultiple(keras.layers.Layer):
    """(N, H, W, C) -> (N, H', W', C) with H', W' the next multiples of ``multiple``."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        shape = tf.shape(x)
        pad_h = (-shape[1]) % self.multiple
        pad_w = (-shape[2]) % self.multiple
        return tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        up = lambda s: None if s is None else -(-s // self.multiple) * self.multiple  # noqa: E731
        return (n, up(h), up(w), c)

    def get_config(self):
        config = super().get_config()
        config.update(multiple=self.multiple)
        return config


@keras.saving.register_keras_serializable(package="irpath")
class CropToMatch(keras.layers.Layer):
    """Crop ``x`` (N, H', W', K) to the H, W of ``reference`` (N, H, W, C)."""

    def call(self, inputs):
        x, reference = inputs
        shape = tf.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shape):
        x, ref = input_shape
        return (x[0], ref[1], ref[2], x[3])

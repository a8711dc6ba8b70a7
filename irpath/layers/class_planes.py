"""Two small layers of the multi-loss network (BenTaieb et al. 2016): class scores as
constant planes, and a gradient stop. They live here, with every other custom layer, so
that loading a saved model (which imports :mod:`irpath.layers`) finds them."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="irpath")
class ClassPlanes(keras.layers.Layer):
    """Scores (N, K) -> constant planes (N, H, W, K) the size of ``reference`` (N, H, W, C)."""

    def call(self, inputs):
        import tensorflow as tf

        scores, reference = inputs
        shape = tf.shape(reference)
        planes = scores[:, None, None, :]
        return tf.broadcast_to(planes, [shape[0], shape[1], shape[2], tf.shape(scores)[-1]])

    def compute_output_shape(self, input_shape):
        scores, ref = input_shape
        return (ref[0], ref[1], ref[2], scores[-1])


@keras.saving.register_keras_serializable(package="irpath")
class StopGradient(keras.layers.Layer):
    """Identity in the forward pass; passes no gradient back (``keras.ops.stop_gradient``)."""

    def call(self, inputs):
        return keras.ops.stop_gradient(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

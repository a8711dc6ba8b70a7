"""The 8 dihedral flips/turns of a batch, per sample, as one gather: on the device.

Transform ``k`` (0..7) rotates by ``k % 4`` quarter turns counter-clockwise (as
``np.rot90``) and then, for ``k >= 4``, flips left-right, the meaning of
:func:`irpath.data.augment.dihedral`. Written as "transpose H/W, then reverse
rows and/or columns", output pixel ``(i, j)`` of sample ``n`` comes from one
source pixel, so a whole batch is transformed with a single ``tf.gather`` of
whole spectra (rows of C values), on whatever device runs the step.

:class:`DihedralTransform` is that gather as a Keras layer. The input pipeline
draws the transform of every sample (a function of the seed and the sample's
number, hence of ``(seed, epoch)``) and passes the indices beside the batch, so
the training step applies exactly the augmentation the array-level reference
:func:`irpath.methods.compsegnet.batch_augment.batch_random_dihedral` would, and a resumed run
sees the same transforms as an uninterrupted one.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# Transform k as (transpose H/W, reverse axis 0, reverse axis 1).
AS_TRANSPOSE_REVERSE = ((0, 0, 0), (1, 1, 0), (0, 1, 1), (1, 0, 1),
                        (0, 0, 1), (1, 1, 1), (0, 1, 0), (1, 0, 0))


def source_pixels(ks, h, w) -> tf.Tensor:
    """Flat source pixel of every output pixel under each sample's transform.

    Args:
        ks: (N,) int32 transforms in 0..7; transposing ones (1, 3, 5, 7) need h == w.
        h, w: the image size.

    Returns:
        (N, h, w) int32: output pixel (i, j) of sample n is input pixel
        ``divmod(result[n, i, j], w)`` of that sample.
    """
    flags = tf.gather(tf.constant(AS_TRANSPOSE_REVERSE, tf.int32) > 0, tf.cast(ks, tf.int32))
    t, r0, r1 = (flags[:, c, None, None] for c in range(3))
    i = tf.range(h, dtype=tf.int32)[None, :, None]
    j = tf.range(w, dtype=tf.int32)[None, None, :]
    a = tf.where(r0, h - 1 - i, i)  # (N, h, 1): row of the (transposed) source
    b = tf.where(r1, w - 1 - j, j)  # (N, 1, w)
    return tf.where(t, b * w + a, a * w + b)


def batch_dihedral(tensors, ks) -> list:
    """Apply transform ``ks[n]`` to sample ``n`` of every tensor, one gather per tensor.

    Args:
        tensors: list of (N, H, W, C_j) tensors with the same N, H and W; H == W
            unless every ``ks`` is shape-preserving (0, 2, 4, 6).
        ks: (N,) int32 in 0..7.

    Returns:
        List of (N, H, W, C_j) tensors, in order.
    """
    shape = tf.shape(tensors[0])
    n, h, w = shape[0], shape[1], shape[2]
    src = source_pixels(ks, h, w) + (tf.range(n) * (h * w))[:, None, None]
    rows = tf.reshape(src, [-1])
    out = []
    for x in tensors:
        x = tf.convert_to_tensor(x)
        flat = tf.reshape(x, tf.stack([n * h * w, -1]))
        out.append(tf.ensure_shape(tf.reshape(tf.gather(flat, rows), tf.shape(x)), x.shape))
    return out


@keras.saving.register_keras_serializable(package="irpath")
class DihedralTransform(keras.layers.Layer):
    """``[x_1, ..., x_m, k] -> [x_1', ..., x_m']``: per-sample dihedral transforms
    (``x_1'`` alone when m = 1).

    Every ``x_j`` is (N, H, W, C_j) with the same N, H, W; the last input ``k``
    is (N,) int (0 = identity). Sample n of every tensor gets transform ``k[n]``; H == W
    unless every k is one of the shape-preserving 0, 2, 4, 6. Applied in
    training and inference alike: the transforms are an input, so validation
    passes zeros. Floating inputs are cast to the layer's dtype (a float16
    cache's cubes become float32 here, on the device).
    """

    def call(self, inputs):
        *tensors, transforms = inputs
        out = batch_dihedral(tensors, transforms)
        return out[0] if len(out) == 1 else out

    def compute_output_shape(self, input_shape):
        shapes = list(input_shape[:-1])
        return shapes[0] if len(shapes) == 1 else shapes

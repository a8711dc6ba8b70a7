"""Dihedral augmentation: the 8 rotations/flips of the square, on arrays and tensors.

Transform ``k`` (0..7) rotates by ``k % 4`` quarter turns counter-clockwise
(as ``np.rot90``) and then, for ``k >= 4``, flips left-right.
The numpy and TensorFlow versions agree element for element. Tissue is
rotation- and mirror-invariant at the spot level, so these are label-preserving.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: Transforms that keep an H x W image H x W when H != W: identity, half turn,
#: left-right flip, up-down flip.
SHAPE_PRESERVING = (0, 2, 4, 6)


def _check_k(k: int) -> int:
    k = int(k)
    if not 0 <= k < 8:
        raise ValueError(f"dihedral transform index must be in 0..7, got {k}")
    return k


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """Apply dihedral transform ``k`` to the first two axes of ``x``.

    Args:
        x: (H, W, ...) array.
        k: 0..7; rotate by ``k % 4`` quarter turns, then flip left-right if ``k >= 4``.

    Returns:
        (H, W, ...) or (W, H, ...) view of ``x``.
    """
    k = _check_k(k)
    out = np.rot90(x, k % 4, axes=(0, 1))
    return out[:, ::-1] if k >= 4 else out


def inverse_dihedral(k: int) -> int:
    """The index ``j`` with ``dihedral(dihedral(x, k), j) == x``."""
    k = _check_k(k)
    return k if k >= 4 else (4 - k) % 4  # flips are their own inverse


# Transform k as (transpose H/W, reverse axis 0, reverse axis 1): at most one
# transpose and one reverse per tensor, instead of rot90's chain of copies.
_AS_TRANSPOSE_REVERSE = ((0, 0, 0), (1, 1, 0), (0, 1, 1), (1, 0, 1),
                         (0, 0, 1), (1, 1, 1), (0, 1, 0), (1, 0, 0))


def _tf_one(x: tf.Tensor, transpose, axes) -> tf.Tensor:
    # The conds skip the full copy tf.transpose / tf.reverse make even for a no-op.
    perm = [1, 0] + list(range(2, x.shape.rank))

    def swap():
        return tf.transpose(x, perm)

    def keep():
        return tf.identity(x)

    y = tf.cond(transpose, swap, keep)

    def flip():
        return tf.reverse(y, axes)

    def unflipped():
        return tf.identity(y)

    return tf.cond(tf.size(axes) > 0, flip, unflipped)


def tf_dihedral(tensors, k) -> list:
    """Apply the same dihedral transform ``k`` to every tensor.

    Args:
        tensors: list of tensors of shape (H, W, ...) with the same H and W
            (e.g. cube, tissue, mask).
        k: int or scalar int32 tensor in 0..7 (same meaning as :func:`dihedral`).

    Returns:
        List of transformed tensors, in order.
    """
    flags = tf.gather(tf.constant(_AS_TRANSPOSE_REVERSE, dtype=tf.int32) > 0,
                      tf.convert_to_tensor(k, dtype=tf.int32))
    axes = tf.boolean_mask(tf.constant([0, 1]), flags[1:])
    return [_tf_one(tf.convert_to_tensor(t), flags[0], axes) for t in tensors]


def random_dihedral(tensors, seed, *, square: bool = True) -> list:
    """Apply one random dihedral transform, drawn with stateless ops, to every tensor.

    Args:
        tensors: as for :func:`tf_dihedral`.
        seed: shape (2,) int32/int64 stateless seed; the same seed gives the same transform.
        square: draw from all 8 transforms; if False, only the 4 in
            :data:`SHAPE_PRESERVING` (for H != W, where a quarter turn would
            change the shape).

    Returns:
        List of transformed tensors, in order.
    """
    choices = tf.constant(tuple(range(8)) if square else SHAPE_PRESERVING, dtype=tf.int32)
    i = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=int(choices.shape[0]),
                                    dtype=tf.int32)
    return tf_dihedral(tensors, choices[i])

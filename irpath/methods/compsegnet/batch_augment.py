"""Dihedral augmentation of a whole batch with one copy per tensor: the array-level reference.

:func:`irpath.data.augment.random_dihedral` transforms one spot with a transpose
and a reverse, up to two full copies of a ~100 MB cube. Here each sample's
transform is drawn as ``random_dihedral`` draws it (:func:`draw_transforms`) and
applied with :func:`irpath.layers.dihedral.batch_dihedral`, one ``tf.gather`` of
whole spectra per tensor. The pipeline either applies it on the host
(:func:`batch_random_dihedral`) or only draws the transforms and leaves the
gather to :class:`irpath.layers.DihedralTransform` inside the training step.
"""

from __future__ import annotations

import tensorflow as tf

from irpath.data.augment import SHAPE_PRESERVING
from irpath.layers.dihedral import batch_dihedral

__all__ = ["batch_dihedral", "batch_random_dihedral", "draw_transforms"]


def draw_transforms(seed, draws, *, square: bool = True) -> tf.Tensor:
    """The dihedral transform of each sample, as :func:`random_dihedral` draws it.

    Args:
        seed: int or scalar int64 tensor, the dataset seed.
        draws: (N,) int64, each sample's draw; sample ``i`` gets the transform that
            ``random_dihedral(..., tf.stack([seed, draws[i]]), square=square)`` applies.
        square: draw from all 8 transforms, else from :data:`SHAPE_PRESERVING`.

    Returns:
        (N,) int32 transform indices in 0..7.
    """
    choices = tf.constant(tuple(range(8)) if square else SHAPE_PRESERVING, dtype=tf.int32)
    seed = tf.cast(seed, tf.int64)

    def one(draw):
        i = tf.random.stateless_uniform([], seed=tf.stack([seed, draw]), minval=0,
                                        maxval=int(choices.shape[0]), dtype=tf.int32)
        return choices[i]

    return tf.map_fn(one, tf.cast(draws, tf.int64), fn_output_signature=tf.int32)


def batch_random_dihedral(tensors, seed, draws, *, square: bool = True) -> list:
    """:func:`random_dihedral` of every sample of a batch, with the same per-sample result.

    Args:
        tensors: list of (N, H, W, C_j) tensors (cube, tissue, mask).
        seed: the dataset seed.
        draws: (N,) int64, sample ``i``'s draw (see :func:`draw_transforms`).
        square: H == W, so all 8 transforms may be drawn.

    Returns:
        List of transformed tensors, in order.
    """
    return batch_dihedral(tensors, draw_transforms(seed, draws, square=square))

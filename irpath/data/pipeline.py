"""The ``tf.data`` input pipeline over a cache built by :func:`build_cache`.

Reads only raw cache files with ``tf.io.read_file`` + ``tf.io.decode_raw`` in a
parallel, order-preserving ``map`` (no Python in the read path). Every spot is
zero-padded bottom/right to one common size so spots of different H, W batch
together, and the U-Net gets sizes divisible by ``2**depth``.

Reproducibility: shuffling and augmentation are seeded by ``seed``. Each new
pass over the dataset (each epoch) reshuffles and redraws the augmentation,
but two datasets built with the same seed give the same sequence of epochs.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from irpath.data.augment import random_dihedral
from irpath.data.cache import CacheIndex
from irpath.errors import ConfigError, ShapeError

AUTOTUNE = tf.data.AUTOTUNE


def padded_size(index: CacheIndex, pad_multiple: int = 16) -> tuple[int, int]:
    """The (H, W) every spot is padded to: the largest H and W, rounded up to ``pad_multiple``."""
    h = max(e.height for e in index.entries)
    w = max(e.width for e in index.entries)
    return (math.ceil(h / pad_multiple) * pad_multiple, math.ceil(w / pad_multiple) * pad_multiple)


def _check(index: CacheIndex, batch_size: int, pad_multiple: int, with_mask: bool,
           comparative: bool) -> int:
    where = f"cache {index.cache_dir}"
    if len(index) == 0:
        raise ConfigError(f"{where}: has no spots")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if int(pad_multiple) < 1:
        raise ConfigError(f"pad_multiple must be >= 1, got {pad_multiple}")
    channels = {e.channels for e in index.entries}
    if len(channels) != 1:
        raise ShapeError(f"{where}: spots differ in channel count {sorted(channels)}")
    if with_mask:
        missing = [e.image for e in index.entries if e.label == 1 and not e.has_mask]
        if missing:
            raise ConfigError(f"{where}: with_mask needs a ground-truth mask for every cancer "
                              f"spot; {len(missing)} have none, e.g. {missing[0]}")
    if comparative:
        labels = set(index.labels)
        if labels != {0, 1}:
            have = "cancer (1)" if 1 in labels else "cancer-free (0)"
            raise ConfigError(f"{where}: comparative batches need both cancer (label 1) and "
                              f"cancer-free (label 0) spots, but all {len(index)} are {have}")
    return channels.pop()


def _slices(index: CacheIndex, ids) -> dict:
    entries = [index.entries[i] for i in ids]
    return {
        "cube": np.array([index.file(e.cube_file) for e in entries]),
        "tissue": np.array([index.file(e.tissue_file) for e in entries]),
        "mask": np.array([index.file(e.mask_file) if e.has_mask else "" for e in entries]),
        "has_mask": np.array([e.has_mask for e in entries], dtype=bool),
        "height": np.array([e.height for e in entries], dtype=np.int32),
        "width": np.array([e.width for e in entries], dtype=np.int32),
        "label": np.array([e.label for e in entries], dtype=np.float32),
    }


def _stream(index: CacheIndex, ids, shuffle: bool, seed: int, repeat: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(_slices(index, ids))
    if shuffle:  # shuffles file names only: cheap, and a full-size buffer
        ds = ds.shuffle(len(ids), seed=seed, reshuffle_each_iteration=True)
    return ds.repeat() if repeat else ds


def comparative_pattern(batch_size: int, n_batches: int) -> np.ndarray:
    """Which stream (0 = cancer, 1 = cancer-free) fills each slot of each batch.

    Classes alternate within a batch, so a batch of k holds ceil(k/2) of the
    class it starts with and floor(k/2) of the other; the starting class
    alternates from batch to batch.

    Returns:
        (n_batches * batch_size,) int64.
    """
    b = np.arange(n_batches)[:, None]
    j = np.arange(batch_size)[None, :]
    return ((b + j) % 2).astype(np.int64).ravel()


def make_dataset(index: CacheIndex, *, batch_size: int, shuffle: bool = True, seed: int = 0,
                 augment: bool = False, repeat: bool = False, comparative: bool = False,
                 pad_multiple: int = 16, with_mask: bool = False,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of padded spots from a cache.

    Args:
        index: the cache, from :func:`build_cache` or ``CacheIndex.open``.
        batch_size: global batch size N (split across replicas by
            ``strategy.experimental_distribute_dataset``).
        shuffle: shuffle spots, reshuffled every epoch, deterministic given ``seed``.
        seed: seeds shuffling and augmentation.
        augment: apply a random dihedral transform (rotation/flip), the same to
            cube, tissue and mask. When the padded size is not square only the 4
            shape-preserving transforms are drawn.
        repeat: repeat forever instead of stopping after one epoch.
        comparative: every batch mixes cancer and cancer-free spots, as
            CompSegNet is trained (Schuhmacher et al. 2019): two independently
            shuffled, endlessly repeated per-class streams, interleaved so a
            batch of k has ceil(k/2) of one class and floor(k/2) of the other,
            alternating which class gets the extra one. An epoch is
            ``ceil(len(index) / batch_size)`` full batches (forever if ``repeat``).
            Needs both classes.
        pad_multiple: the padded H and W (the largest over the index) are rounded
            up to a multiple of this; use ``2**depth`` for a U-Net.
        with_mask: also yield the ground-truth mask. Every cancer spot needs one;
            cancer-free spots without a mask get zeros (their ground truth is
            empty by definition).
        drop_remainder: drop the last, smaller batch (ignored when comparative:
            those batches are always full).

    Returns:
        A dataset of dicts: ``cube`` (N, H, W, C) float32, ``tissue`` (N, H, W, 1)
        float32 0/1, ``label`` (N,) float32 (1 = cancer), and with ``with_mask``
        ``mask`` (N, H, W, 1) float32 0/1. Padding is 0 in every array.

    Raises:
        ConfigError: empty index, bad sizes, missing masks, or a single class with
            ``comparative``.
    """
    channels = _check(index, batch_size, pad_multiple, with_mask, comparative)
    batch_size = int(batch_size)
    hp, wp = padded_size(index, int(pad_multiple))
    if comparative:
        pos = [i for i, e in enumerate(index.entries) if e.label == 1]
        neg = [i for i, e in enumerate(index.entries) if e.label == 0]
        streams = [_stream(index, pos, shuffle, seed, True),
                   _stream(index, neg, shuffle, seed + 1, True)]
        choice = tf.data.Dataset.from_tensor_slices(comparative_pattern(batch_size, 2)).repeat()
        ds = tf.data.Dataset.choose_from_datasets(streams, choice)
        if not repeat:
            ds = ds.take(math.ceil(len(index) / batch_size) * batch_size)
        drop_remainder = False
    else:
        ds = _stream(index, range(len(index)), shuffle, seed, repeat)

    if augment:
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, draws)
    else:
        ds = ds.map(_no_draw)

    def load(el, draw):
        h, w = el["height"], el["width"]
        cube = tf.io.decode_raw(tf.io.read_file(el["cube"]), tf.float32, little_endian=True)
        tensors = [tf.reshape(cube, [h, w, channels]), _read_u8(el["tissue"], h, w)]
        if with_mask:
            def read_mask():
                return _read_u8(el["mask"], h, w)

            def no_mask():
                return tf.zeros([h, w, 1], tf.float32)

            tensors.append(tf.cond(el["has_mask"], read_mask, no_mask))
        if augment:
            # Stateless: the transform depends only on (seed, this element's draw).
            seed_pair = tf.stack([tf.constant(seed, tf.int64), draw])
            tensors = random_dihedral(tensors, seed_pair, square=hp == wp)
        out = [_pad(t, hp, wp, ch) for t, ch in zip(tensors, [channels, 1, 1])]
        result = {"cube": out[0], "tissue": out[1], "label": el["label"]}
        if with_mask:
            result["mask"] = out[2]
        return result

    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(AUTOTUNE)


def _no_draw(el):
    return el, tf.constant(0, tf.int64)


def _read_u8(path, h, w):
    raw = tf.io.decode_raw(tf.io.read_file(path), tf.uint8)
    return tf.cast(tf.reshape(raw, [h, w, 1]), tf.float32)


def _pad(t, hp: int, wp: int, channels: int):
    shape = tf.shape(t)
    t = tf.pad(t, [[0, hp - shape[0]], [0, wp - shape[1]], [0, 0]])
    return tf.ensure_shape(t, [hp, wp, channels])

"""The ``tf.data`` input pipeline over a cache built by :func:`build_cache`.

A batch is read by :class:`irpath.data.spot_reader.SpotReader` in one call: each
spot's cube file goes with one ``os.preadv`` straight into its slot of the batch
buffer, which becomes the batch tensor without a copy; batches are read in a
parallel, order-preserving ``map`` and prefetched. Every spot is zero-padded
bottom/right to one common size so spots of different H, W batch together, and
the U-Net gets sizes divisible by ``2**depth``.

Augmentation (the 8 flips/turns) is drawn here and applied either here on the
host or, with ``device_augment``, inside the training step by
:class:`irpath.layers.DihedralTransform`: the batch then carries each sample's
transform index, ``dihedral``, and the cube arrives untouched.

Reproducibility: what epoch ``e`` yields (its order and its augmentation) is a
function of ``(seed, e)`` alone. Sample ``p`` of epoch ``e`` is spot
``order(seed, e)[p]`` (a stateless permutation, or per-class permutations for
comparative batches) and is augmented with the stateless seed ``(seed, e * S + p)``,
``S`` samples per epoch. So a run resumed at epoch ``e`` sees the same batches as an
uninterrupted one (see :func:`make_dataset`'s ``epoch`` and ``repeat``).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from irpath.data.augment import random_dihedral
from irpath.methods.compsegnet.batch_augment import batch_dihedral, draw_transforms
from irpath.data.cache import CacheIndex
from irpath.data.spot_reader import SpotReader
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


def _permutations(n: int, rows, seed) -> tf.Tensor:
    """(rows * n,) int32: ``rows`` independent stateless permutations of range(n), concatenated."""
    draws = tf.random.stateless_uniform(tf.stack([rows, n]), seed=seed)
    return tf.reshape(tf.argsort(draws, axis=1, stable=True), [-1])


def _epoch_order(labels: np.ndarray, per_epoch: int, batch_size: int, *, shuffle: bool,
                 comparative: bool, seed: int):
    """``order(e) -> (per_epoch,) int32`` spot indices of epoch ``e`` (a scalar int64 tensor)."""
    n = labels.size
    seed = tf.constant(seed, tf.int64)
    if not comparative:
        def order(e):
            if not shuffle:
                return tf.range(per_epoch, dtype=tf.int32) % n
            rows = -(-per_epoch // n)
            return _permutations(n, rows, tf.stack([seed, e]))[:per_epoch]
        return order

    members = [np.flatnonzero(labels == 1).astype(np.int32), np.flatnonzero(labels == 0).astype(np.int32)]
    steps = per_epoch // batch_size

    def order(e):
        # Slot j of global batch b holds class (b + j) % 2 (0 = cancer): classes alternate within a
        # batch (ceil(k/2) of the class it starts with), and the starting class from batch to batch.
        b = e * steps + tf.range(steps, dtype=tf.int64)[:, None]
        cls = tf.reshape((b + tf.range(batch_size, dtype=tf.int64)[None, :]) % 2, [-1])
        out = tf.zeros([per_epoch], tf.int32)
        for c, ids in enumerate(members):
            where = tf.where(tf.equal(cls, c))[:, 0]
            rows = -(-per_epoch // ids.size)
            if shuffle:
                pick = _permutations(ids.size, rows, tf.stack([seed + c, e]))
            else:
                pick = tf.range(rows * ids.size, dtype=tf.int32) % ids.size
            chosen = tf.gather(tf.constant(ids), pick[:tf.size(where)])
            out = tf.tensor_scatter_nd_update(out, where[:, None], chosen)
        return out
    return order


def make_dataset(index: CacheIndex, *, batch_size: int, shuffle: bool = True, seed: int = 0,
                 augment: bool = False, repeat: bool = False, comparative: bool = False,
                 pad_multiple: int = 16, with_mask: bool = False,
                 drop_remainder: bool = False, epoch: int = 0,
                 steps_per_epoch: int | None = None,
                 device_augment: bool = False) -> tf.data.Dataset:
    """Batches of padded spots from a cache.

    Args:
        index: the cache, from :func:`build_cache` or ``CacheIndex.open``.
        batch_size: global batch size N (split across replicas by
            ``strategy.experimental_distribute_dataset``).
        shuffle: visit spots in a random order per epoch, a function of ``(seed, epoch)``.
        seed: seeds shuffling and augmentation.
        augment: apply a random dihedral transform (rotation/flip), the same to
            cube, tissue and mask. When the padded size is not square only the 4
            shape-preserving transforms are drawn.
        repeat: an endless stream of epochs ``epoch, epoch + 1, ...`` instead of the
            single epoch ``epoch``. Batches never straddle epochs, so
            ``model.fit(ds, steps_per_epoch=len(epoch), initial_epoch=epoch)`` gives
            epoch ``e`` of ``fit`` the stream's epoch ``e``.
        comparative: every batch mixes cancer and cancer-free spots, as
            CompSegNet is trained (Schuhmacher et al. 2019): slot j of batch b holds
            class (b + j) % 2 (cancer first), so a batch of k has ceil(k/2) of one
            class and floor(k/2) of the other, alternating which class gets the extra
            one; each class is drawn from its own per-epoch permutations, repeated
            as often as needed. An epoch is ``ceil(len(index) / batch_size)`` full
            batches (or ``steps_per_epoch``). Needs both classes.
        pad_multiple: the padded H and W (the largest over the index) are rounded
            up to a multiple of this; use ``2**depth`` for a U-Net.
        with_mask: also yield the ground-truth mask. Every cancer spot needs one;
            cancer-free spots without a mask get zeros (their ground truth is
            empty by definition).
        drop_remainder: drop the last, smaller batch of an epoch (ignored when
            comparative or with ``steps_per_epoch``: those batches are always full).
        epoch: the (first) epoch the dataset yields.
        steps_per_epoch: batches per epoch; an epoch is then that many full batches
            (spots repeat in new permutations when it needs more than one pass).
        device_augment: leave the transform to the training step: every batch
            carries ``dihedral``, each sample's transform (the one ``augment``
            would apply here; 0 = identity without ``augment``), for
            :class:`irpath.layers.DihedralTransform`. Spots that need padding are
            still transformed here, before padding, as without this option, and
            get 0.

    Returns:
        A dataset of dicts: ``cube`` (N, H, W, C) in the cache's dtype (float32,
        or float16), ``tissue`` (N, H, W, 1) float32 0/1, ``label`` (N,) float32
        (1 = cancer), with ``with_mask`` ``mask`` (N, H, W, 1) float32 0/1, and
        with ``device_augment`` ``dihedral`` (N,) int32. Padding is 0 in every array.

    Raises:
        ConfigError: empty index, bad sizes, missing masks, or a single class with
            ``comparative``.
    """
    channels = _check(index, batch_size, pad_multiple, with_mask, comparative)
    batch_size, n = int(batch_size), len(index)
    if steps_per_epoch is not None and int(steps_per_epoch) < 1:
        raise ConfigError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if int(epoch) < 0:
        raise ConfigError(f"epoch must be >= 0, got {epoch}")
    hp, wp = padded_size(index, int(pad_multiple))
    if steps_per_epoch is not None:
        per_epoch = int(steps_per_epoch) * batch_size
    elif comparative:
        per_epoch = math.ceil(n / batch_size) * batch_size
    else:
        per_epoch = n
    if comparative or steps_per_epoch is not None:
        drop_remainder = False  # every epoch is whole batches already
    slices = {k: tf.constant(v) for k, v in _slices(index, range(n)).items()}
    order = _epoch_order(np.array(index.labels), per_epoch, batch_size, shuffle=shuffle,
                         comparative=comparative, seed=int(seed))

    def one_epoch(e):
        ids = order(e)
        g = e * per_epoch + tf.range(per_epoch, dtype=tf.int64)  # global sample numbers
        return tf.data.Dataset.from_tensor_slices((ids, g))

    first = int(epoch)
    epochs = tf.data.Dataset.range(first, first + 1) if not repeat else \
        tf.data.Dataset.range(first, np.iinfo(np.int64).max)

    square = hp == wp
    whole = all((e.height, e.width) == (hp, wp) for e in index.entries)
    # Spots that need padding and host augmentation are transformed one by one before
    # padding (as they always were); every other batch is read in one call.
    per_spot = augment and not whole
    dihedral = device_augment and augment and whole
    cube_dtype = tf.as_dtype(index.cube_dtype)

    def load(i, draw):
        el = {k: v[i] for k, v in slices.items()}
        h, w = el["height"], el["width"]
        cube = tf.io.decode_raw(tf.io.read_file(el["cube"]), cube_dtype, little_endian=True)
        tensors = [tf.reshape(cube, [h, w, channels]), _read_u8(el["tissue"], h, w)]
        if with_mask:
            tensors.append(_mask_or_zeros(el, h, w))
        # Stateless: the transform depends only on (seed, this sample's global number).
        tensors = random_dihedral(tensors, tf.stack([tf.constant(seed, tf.int64), draw]),
                                  square=square)
        out = [_pad(t, hp, wp, ch) for t, ch in zip(tensors, [channels, 1, 1])]
        return _element(out, el["label"])

    reader = SpotReader(index, hp, wp, with_mask=with_mask)
    labels = slices["label"]

    def read_batch(ids, draws):
        out_types = [cube_dtype] + [tf.uint8] * (2 if with_mask else 1)
        arrays = tf.numpy_function(reader.read, [ids], out_types, stateful=False)
        n = ids.shape[0]
        cube = tf.ensure_shape(arrays[0], [n, hp, wp, channels])
        planes = [tf.cast(tf.ensure_shape(a, [n, hp, wp, 1]), tf.float32) for a in arrays[1:]]
        tensors = [cube, *planes]
        if augment:
            ks = draw_transforms(seed, draws, square=square)
        if augment and not dihedral:  # the same transform per sample as random_dihedral
            tensors = batch_dihedral(tensors, ks)
        out = _element(tensors, tf.gather(labels, ids))
        if device_augment:
            out["dihedral"] = ks if dihedral else tf.zeros_like(ids, tf.int32)
        return out

    def per_spot_batches(samples, drop):
        batches = samples.map(load, num_parallel_calls=AUTOTUNE, deterministic=True).batch(
            batch_size, drop_remainder=drop)
        if device_augment:
            batches = batches.map(_with_identity)
        return batches

    def to_batches(samples, drop):
        if per_spot:
            return per_spot_batches(samples, drop)
        return samples.batch(batch_size, drop_remainder=drop).map(
            read_batch, num_parallel_calls=AUTOTUNE, deterministic=True)

    if per_epoch % batch_size == 0:  # batches line up with epochs
        ds = to_batches(epochs.flat_map(one_epoch), drop_remainder or repeat)
    else:  # batch each epoch on its own: the last, smaller batch stays within its epoch
        def batches(e):
            return to_batches(one_epoch(e), drop_remainder)
        ds = epochs.flat_map(batches)
    if repeat:
        n_batches = tf.data.INFINITE_CARDINALITY
    else:
        n_batches = per_epoch // batch_size if drop_remainder else math.ceil(per_epoch / batch_size)
    # flat_map hides the length; Keras needs it to tell an epoch's end from running out of data.
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    return ds.prefetch(AUTOTUNE)


def _with_identity(batch: dict) -> dict:
    """``batch`` with ``dihedral`` = 0 (identity) for every sample."""
    return {**batch, "dihedral": tf.zeros_like(batch["label"], tf.int32)}


def _element(tensors, label) -> dict:
    """``{"cube", "tissue", "label"[, "mask"]}`` from ``[cube, tissue(, mask)]``."""
    result = {"cube": tensors[0], "tissue": tensors[1], "label": label}
    if len(tensors) > 2:
        result["mask"] = tensors[2]
    return result


def _mask_or_zeros(el, h, w):
    """The spot's ground-truth mask, or zeros for a (cancer-free) spot without one."""
    return tf.cond(el["has_mask"], lambda: _read_u8(el["mask"], h, w),
                   lambda: tf.zeros([h, w, 1], tf.float32))


def _read_u8(path, h, w):
    raw = tf.io.decode_raw(tf.io.read_file(path), tf.uint8)
    return tf.cast(tf.reshape(raw, [h, w, 1]), tf.float32)


def _pad(t, hp: int, wp: int, channels: int):
    shape = tf.shape(t)
    t = tf.pad(t, [[0, hp - shape[0]], [0, wp - shape[1]], [0, 0]])
    return tf.ensure_shape(t, [hp, wp, channels])

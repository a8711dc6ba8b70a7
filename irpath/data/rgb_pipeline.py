"""``tf.data`` pipeline of random crops of in-memory RGB tiles and their label maps.

Tiles of any sizes are kept in memory as one flat float32 tensor (plus one per
label map) with per-tile offsets and sizes; ``map`` slices a tile out, crops a
random window and augments it -- no Python in the per-sample path.

Reproducibility. Sample ``i`` of the stream (a global counter) belongs to epoch
``e = i // S`` at position ``p = i % S``, with ``S`` samples per epoch. Its tile
is ``perm_e[p % n]`` where ``perm_e`` is a random permutation of the ``n`` tiles
drawn from ``(seed, e, p // n)`` (``tf.random.experimental.index_shuffle``),
and its crop and augmentation are drawn from ``(seed, e, p)``. So what epoch
``e`` yields is a function of ``(seed, e)`` alone: a run resumed at epoch ``e``
sees exactly the batches an uninterrupted run would.

* ``repeat=False``: one epoch (``epoch``), ``S = n`` samples (or
  ``steps_per_epoch * batch_size``). Iterating it again gives the same epoch:
  build one dataset per epoch.
* ``repeat=True``: an endless stream starting at epoch ``epoch`` with
  ``S = steps_per_epoch * batch_size`` (default ``steps_per_epoch =
  ceil(n / batch_size)``), for Keras::

      ds = make_rgb_dataset(..., repeat=True, epoch=initial_epoch, steps_per_epoch=steps)
      model.fit(ds, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps)

  Keras keeps one iterator across epochs when ``steps_per_epoch`` is given, so
  epoch ``e`` of ``fit`` receives stream epoch ``e``; batches never straddle epochs.

Memory: the tiles are captured as constants by the ``map`` function, which
is fine for tiles (hundreds of MB); bulk data wants a file-based pipeline.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from irpath.data.joint_augment import AugmentConfig, augment as joint_augment
from irpath.data.joint_augment import random_crop
from irpath.errors import ConfigError, ShapeError

AUTOTUNE = tf.data.AUTOTUNE
_ORDER, _SAMPLE = 1, 2  # streams of the base seed


def context_size(crop: int, cfg: AugmentConfig | None) -> int:
    """Side of the window that still covers a centred ``crop`` after ``cfg``'s geometry.

    The pipeline crops this much context, augments it, then keeps the centre
    ``crop``, so rotated/zoomed-out corners show real tissue instead of fill.
    The bound: rotation stretches by at most cos + sin (sqrt 2 from 45 degrees),
    shear by 1 + tan, zoom-out by 1 / min scale; elastic adds 3 alpha per side.
    """
    if cfg is None:
        return int(crop)
    r = math.radians(cfg.rotation)
    turn = math.sqrt(2.0) if cfg.rotation >= 45 else math.cos(r) + math.sin(r)
    stretch = turn * (1.0 + math.tan(math.radians(cfg.shear))) / cfg.scale[0]
    margin = 2 * math.ceil(3.0 * cfg.elastic_alpha) if cfg.elastic_prob > 0 else 0
    return int(math.ceil(crop * max(stretch, 1.0))) + margin + 2


def _pack(images, labels):
    """Flat arrays + offsets + sizes; validates shapes and label counts."""
    if len(images) == 0:
        raise ConfigError("make_rgb_dataset: no images")
    if len(labels) != len(images):
        raise ConfigError(f"make_rgb_dataset: {len(images)} images but {len(labels)} label tuples")
    labels = [tuple(lab) if isinstance(lab, (tuple, list)) else (lab,) for lab in labels]
    n_maps = {len(lab) for lab in labels}
    if len(n_maps) != 1:
        raise ConfigError(f"make_rgb_dataset: images have different numbers of label maps "
                          f"{sorted(n_maps)}")
    images = [np.asarray(im, dtype=np.float32) for im in images]
    channels = {im.shape[-1] if im.ndim == 3 else None for im in images}
    if None in channels or len(channels) != 1:
        raise ShapeError("make_rgb_dataset: images must all be (H, W, C) with one C, got "
                         + ", ".join(str(im.shape) for im in images[:5]))
    for i, (im, lab) in enumerate(zip(images, labels)):
        for k, m in enumerate(lab):
            if np.shape(m) != im.shape[:2]:
                raise ShapeError(f"make_rgb_dataset: label map {k} of image {i} is "
                                 f"{np.shape(m)}, the image is {im.shape[:2]}")
    sizes = np.array([im.shape[:2] for im in images], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes[:, 0] * sizes[:, 1])[:-1]])
    flat_images = np.concatenate([im.ravel() for im in images])
    flat_labels = []
    for k in range(n_maps.pop()):
        maps = [np.asarray(lab[k]) for lab in labels]
        dtype = np.result_type(*maps)
        if dtype.kind not in "biuf":
            raise ShapeError(f"make_rgb_dataset: label map {k} has dtype {dtype}")
        flat_labels.append(np.concatenate([m.astype(dtype).ravel() for m in maps]))
    return flat_images, tuple(flat_labels), sizes, offsets, channels.pop()


def make_rgb_dataset(images, labels, *, crop: int, batch_size: int, seed: int,
                     augment: AugmentConfig | None = None, shuffle: bool = True,
                     repeat: bool = False, epoch: int = 0, steps_per_epoch: int | None = None,
                     pad_mode: str = "reflect", drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of random crops of RGB tiles and their label maps.

    Args:
        images: list of (H_i, W_i, C) float arrays (e.g. :func:`irpath.data.rgb.to_float`).
        labels: list (one per image) of tuples of (H_i, W_i) maps, the same
            number per image, e.g. ``(classes,)`` or ``(target, weight_map)``.
        crop: side of the square crops, or ``(h, w)`` for rectangular ones (e.g.
            whole images of one size; non-square windows get half turns only).
        batch_size: N.
        seed: seeds order, crops and augmentation.
        augment: joint augmentation; when it has geometry, a larger context
            window (:func:`context_size`) is cropped, augmented and its centre
            kept, so rotated corners show tissue, not fill. None: crops only.
        shuffle: visit tiles in a random order per epoch (else in list order).
        repeat: endless stream (see the module docstring) instead of one epoch.
        epoch: the epoch the dataset starts at.
        steps_per_epoch: batches per epoch; default: one pass over the tiles
            (``repeat=False``) or ``ceil(n / batch_size)`` (``repeat=True``).
        pad_mode: how a crop window larger than its tile is filled: "reflect"
            or "constant" (0, i.e. background).
        drop_remainder: drop a last partial batch (``repeat=False`` only).

    Returns:
        Dataset of ``(images (N, crop, crop, C) float32, tuple of label batches
        (N, crop, crop))`` with each label map's dtype ((N, h, w, ...) for ``(h, w)``).
    """
    ch, cw = (int(crop), int(crop)) if np.isscalar(crop) else (int(crop[0]), int(crop[1]))
    if min(ch, cw) < 1 or int(batch_size) < 1:
        raise ConfigError(f"crop and batch_size must be >= 1, got {crop}, {batch_size}")
    if steps_per_epoch is not None and int(steps_per_epoch) < 1:
        raise ConfigError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    flat_images, flat_labels, sizes, offsets, channels = _pack(images, labels)
    n = len(sizes)
    if steps_per_epoch is not None:
        per_epoch = int(steps_per_epoch) * int(batch_size)
    else:
        per_epoch = math.ceil(n / batch_size) * batch_size if repeat else n
    if ch == cw or augment is None or not (augment.has_affine or augment.elastic_alpha > 0):
        window = (context_size(ch, augment), context_size(cw, augment))
    else:  # a rotated rectangle needs the context of its longer side along both axes
        window = (context_size(max(ch, cw), augment),) * 2
    lo, lo_w = (window[0] - ch) // 2, (window[1] - cw) // 2

    flat_images = tf.constant(flat_images)
    flat_labels = tuple(tf.constant(f) for f in flat_labels)
    sizes_t, offsets_t = tf.constant(sizes), tf.constant(offsets)
    order_seed = tf.constant([int(seed), _ORDER], tf.int64)
    sample_seed = tf.constant([int(seed), _SAMPLE], tf.int64)
    fold = tf.random.experimental.stateless_fold_in

    @tf.autograph.experimental.do_not_convert
    def sample(i):
        e, p = i // per_epoch, i % per_epoch
        if shuffle:
            block_seed = fold(fold(order_seed, e), p // n)
            idx = tf.random.experimental.index_shuffle(p % n, block_seed, n - 1)
        else:
            idx = p % n
        seeds = tf.random.experimental.stateless_split(fold(fold(sample_seed, e), p), 2)
        h, w, off = sizes_t[idx, 0], sizes_t[idx, 1], offsets_t[idx]
        image = tf.reshape(flat_images[off * channels:(off + h * w) * channels],
                           tf.stack([h, w, channels]))
        maps = tuple(tf.reshape(f[off:off + h * w], tf.stack([h, w])) for f in flat_labels)
        image, maps = random_crop(image, maps, window, seeds[0], pad_mode)
        if augment is not None:
            image, maps = joint_augment(image, maps, seeds[1], augment)
            image = image[lo:lo + ch, lo_w:lo_w + cw]
            maps = tuple(m[lo:lo + ch, lo_w:lo_w + cw] for m in maps)
        return image, maps

    start = int(epoch) * per_epoch
    if repeat:
        ds = tf.data.Dataset.counter(start)
    else:
        ds = tf.data.Dataset.range(start, start + per_epoch)
    ds = ds.map(sample, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder or repeat)
    return ds.prefetch(AUTOTUNE)

"""One seeded joint augmentation of an RGB image and its label maps (TensorFlow, stateless).

:func:`augment` applies the *same* geometry to an (H, W, C) image and any number
of label maps (class maps, instance maps, weight maps), then colour jitter to
the image alone. Every random draw is ``tf.random.stateless_*`` from sub-seeds
of the one ``seed`` argument, so the same seed always gives the same output,
in eager mode, in ``tf.function`` and inside ``tf.data.Dataset.map``.

Geometry, in this order:

1. affine: rotation, isotropic scale and shear about the image centre, as one
   projective matrix through ``tf.raw_ops.ImageProjectiveTransformV3``;
2. elastic deformation (Simard et al. 2003): a Gaussian-smoothed random
   displacement field ``d``. When it is drawn, the image is resampled once, at
   ``affine(p + d(p))``, by :func:`warp` (bilinear gather / nearest gather);
   otherwise the affine alone goes through ``ImageProjectiveTransformV3``;
3. a random flip / quarter turn (:mod:`irpath.data.augment`'s dihedral group).

The image is resampled bilinearly, labels with nearest neighbour, so a label
map only ever holds values it held before, in its own dtype. Pixels that come
from outside the image are filled by ``fill_mode``: ``"reflect"`` (default;
mirrors the tile so no black corners appear -- but mirrored nuclei share their
instance id, so instance maps may prefer ``"constant"``) or ``"constant"`` (0
for image and labels, i.e. background).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import tensorflow as tf

from irpath.data.augment import tf_dihedral
from irpath.errors import ConfigError

FILL_MODES = ("reflect", "constant")
# All control flow here is static Python or explicit tf.cond: AutoGraph need not (and,
# at ~10 s per trace, should not) rewrite these functions inside tf.function / Dataset.map.
_plain = tf.autograph.experimental.do_not_convert
_N_SEEDS = 8  # sub-seeds: affine, elastic gate, elastic field, dihedral, 4 colour jitters
_LIMITS = {  # field: (low, high, high allowed)
    "rotation": (0, 180, True), "shear": (0, 60, False), "elastic_alpha": (0, math.inf, False),
    "elastic_prob": (0, 1, True), "brightness": (0, 1, True), "contrast": (0, 1, False),
    "saturation": (0, 1, False), "hue": (0, 0.5, True)}


@dataclass(frozen=True)
class AugmentConfig:
    """What :func:`augment` draws. Ranges are symmetric about "no change".

    Attributes:
        rotation: max rotation in degrees, uniform in [-rotation, rotation];
            180 (default) = any angle, right for tissue, which has no up.
        scale: (min, max) isotropic zoom, log-uniform; > 1 enlarges the content.
        shear: max shear angle in degrees (x-shear), uniform in [-shear, shear].
        elastic_alpha: RMS displacement of the elastic field in pixels; 0 (default)
            disables it (it changes gland and nucleus shapes: opt in per method).
        elastic_sigma: Gaussian smoothing of the field in pixels (its correlation length).
        elastic_prob: probability of applying the elastic deformation.
        flips: random left-right / up-down flips.
        rot90: random quarter turns (half turns only, when H != W).
        brightness: max added brightness delta, as a fraction of ``value_range``; 0 disables.
        contrast: contrast factor in [1 - contrast, 1 + contrast]; 0 disables.
        saturation: saturation factor in [1 - saturation, 1 + saturation]; 0 disables.
        hue: max hue shift, as a fraction of the colour circle (<= 0.5); 0 disables.
        fill_mode: "reflect" or "constant" (0), for image and labels alike.
        value_range: the image's white level: 1.0 for images in [0, 1], 255.0 for raw RGB
            in [0, 255]. Colour jitter works on ``image / value_range``, clips to [0, 1] and
            scales back, so a [0, 255] image is jittered, not clipped to white.
        bilinear_float_labels: resample float label maps (e.g. weight maps)
            bilinearly instead of nearest; integer maps are always nearest.
    """

    rotation: float = 180.0
    scale: tuple[float, float] = (0.8, 1.25)
    shear: float = 5.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 8.0
    elastic_prob: float = 0.5
    flips: bool = True
    rot90: bool = True
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    hue: float = 0.02
    fill_mode: str = "reflect"
    bilinear_float_labels: bool = False
    value_range: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "scale", tuple(float(s) for s in self.scale))
        problems = [f"{k} must be in [{lo}, {hi}{']' if closed else ')'}, got {getattr(self, k)}"
                    for k, (lo, hi, closed) in _LIMITS.items()
                    if not lo <= getattr(self, k) <= hi or (not closed and getattr(self, k) == hi)]
        if not (len(self.scale) == 2 and 0 < self.scale[0] <= self.scale[1]):
            problems.append(f"scale must be (min, max) with 0 < min <= max, got {self.scale}")
        if not self.value_range > 0:
            problems.append(f"value_range must be > 0, got {self.value_range}")
        if self.elastic_sigma <= 0:
            problems.append(f"elastic_sigma must be > 0, got {self.elastic_sigma}")
        if self.fill_mode not in FILL_MODES:
            problems.append(f"fill_mode must be one of {FILL_MODES}, got {self.fill_mode!r}")
        if problems:
            raise ConfigError("AugmentConfig: " + "; ".join(problems))

    @property
    def has_affine(self) -> bool:
        return self.rotation > 0 or self.shear > 0 or self.scale != (1.0, 1.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AugmentConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"AugmentConfig: unknown keys {unknown}")
        return cls(**data)


# ---------------------------------------------------------------- affine


@_plain
def affine_transform(angle, scale, shear, height, width) -> tf.Tensor:
    """The ``ImageProjectiveTransformV3`` vector of a rotation/scale/shear about the centre.

    The matrix maps output pixel (x, y) to the input point it samples:
    ``in = c + R(angle) @ Shear(shear) @ (out - c) / scale`` with ``c`` the
    centre ((W - 1) / 2, (H - 1) / 2). A positive angle turns the content
    counter-clockwise as displayed (row 0 on top); 90 degrees on a square image
    equals ``np.rot90``.

    Args:
        angle, shear: degrees (scalars or scalar tensors).
        scale: zoom factor, > 1 enlarges the content.
        height, width: image size.

    Returns:
        (8,) float32.
    """
    rad = tf.cast(angle, tf.float32) * (math.pi / 180.0)
    tan_s = tf.math.tan(tf.cast(shear, tf.float32) * (math.pi / 180.0))
    inv = 1.0 / tf.cast(scale, tf.float32)
    cos, sin = tf.math.cos(rad), tf.math.sin(rad)
    m00, m01 = cos * inv, (cos * tan_s - sin) * inv  # R @ [[1, tan], [0, 1]] / scale
    m10, m11 = sin * inv, (sin * tan_s + cos) * inv
    cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    return tf.stack([m00, m01, cx - m00 * cx - m01 * cy,
                     m10, m11, cy - m10 * cx - m11 * cy, 0.0, 0.0])


@_plain
def apply_affine(x, transform, interpolation: str, fill_mode: str = "reflect") -> tf.Tensor:
    """Resample an (H, W, C) tensor through an (8,) projective transform.

    Args:
        x: (H, W, C) tensor of dtype uint8, int32, int64, float16/32/64.
        transform: (8,) from :func:`affine_transform`.
        interpolation: "BILINEAR" or "NEAREST".
        fill_mode: "reflect" or "constant" (0).

    Returns:
        (H, W, C) tensor, same dtype.
    """
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=x[None], transforms=tf.reshape(tf.cast(transform, tf.float32), (1, 8)),
        output_shape=tf.shape(x)[:2], fill_value=tf.constant(0.0, tf.float32),
        interpolation=interpolation, fill_mode=fill_mode.upper())[0]
    out.set_shape(x.shape)
    return out


# ---------------------------------------------------------------- elastic


def _gaussian_matrix(n, sigma: float) -> tf.Tensor:
    """(n, n) matrix of a 1-D Gaussian convolution (truncated at 3 sigma, zero padding)."""
    radius = max(1.0, math.ceil(3.0 * sigma))
    t = tf.cast(tf.range(n)[:, None] - tf.range(n)[None, :], tf.float32)
    taps = tf.exp(-0.5 * tf.square(tf.range(-radius, radius + 1.0) / sigma))
    k = tf.exp(-0.5 * tf.square(t / sigma)) * tf.cast(tf.abs(t) <= radius, tf.float32)
    return k / tf.reduce_sum(taps)


@_plain
def elastic_displacement(seed, height, width, alpha: float, sigma: float) -> tf.Tensor:
    """A smooth random displacement field (Simard et al. 2003).

    White Gaussian noise, smoothed by a separable Gaussian of ``sigma`` pixels
    (zero-padded at the borders; each 1-D pass is a banded matrix product,
    ~50x faster on CPU than a 1-channel ``conv2d``), rescaled so each component
    has standard deviation ``alpha`` pixels (away from the borders).

    Returns:
        (H, W, 2) float32 displacements (dy, dx) in pixels.
    """
    noise = tf.random.stateless_normal(tf.stack([2, height, width]), seed=seed)
    ky, kx = _gaussian_matrix(height, sigma), _gaussian_matrix(width, sigma)
    smooth = tf.matmul(tf.matmul(ky, noise), kx, transpose_b=True)  # (2, H, W)
    radius = max(1.0, math.ceil(3.0 * sigma))
    taps = tf.exp(-0.5 * tf.square(tf.range(-radius, radius + 1.0) / sigma))
    std = tf.reduce_sum(tf.square(taps)) / tf.square(tf.reduce_sum(taps))  # of smoothed noise
    return tf.transpose(smooth, (1, 2, 0)) * (alpha / std)


def _reflect(i, n):
    """Symmetric reflection of integer indices into [0, n): ... b a | a b c | c b ..."""
    m = tf.math.floormod(i, 2 * n)
    return tf.where(m >= n, 2 * n - 1 - m, m)


def _gather(x, iy, ix, fill_mode):
    """x[iy, ix] for (H, W) index maps, out-of-range indices filled per ``fill_mode``."""
    h, w = tf.shape(x)[0], tf.shape(x)[1]
    if fill_mode == "reflect":
        return tf.gather_nd(x, tf.stack([_reflect(iy, h), _reflect(ix, w)], axis=-1))
    valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    vals = tf.gather_nd(x, tf.stack([tf.clip_by_value(iy, 0, h - 1),
                                     tf.clip_by_value(ix, 0, w - 1)], axis=-1))
    return tf.where(valid[..., None], vals, tf.zeros_like(vals))


@_plain
def warp(x, coords, interpolation: str, fill_mode: str = "reflect") -> tf.Tensor:
    """``out[y, x] = x[coords[y, x]]``: a dense warp, sampling ``x`` at any (row, col) points.

    For a displacement field ``d``, pass ``coords = grid + d`` (``(y + dy, x + dx)``).

    Args:
        x: (H, W, C) tensor (any dtype for "NEAREST"; cast to float for "BILINEAR").
        coords: (H', W', 2) float32 sample points (row, col) in ``x``'s pixels.
        interpolation: "BILINEAR" or "NEAREST" (rounds the sample point, so
            the output holds only values of ``x``).
        fill_mode: "reflect" or "constant" (0).

    Returns:
        (H', W', C) tensor, same dtype as ``x``.
    """
    sy, sx = coords[..., 0], coords[..., 1]
    if interpolation == "NEAREST":
        return _gather(x, tf.cast(tf.round(sy), tf.int32), tf.cast(tf.round(sx), tf.int32),
                       fill_mode)
    y0, x0 = tf.floor(sy), tf.floor(sx)
    wy, wx = (sy - y0)[..., None], (sx - x0)[..., None]
    iy, ix = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    xf = tf.cast(x, tf.float32)
    top = (1 - wx) * _gather(xf, iy, ix, fill_mode) + wx * _gather(xf, iy, ix + 1, fill_mode)
    bot = (1 - wx) * _gather(xf, iy + 1, ix, fill_mode) + wx * _gather(xf, iy + 1, ix + 1,
                                                                       fill_mode)
    return tf.cast((1 - wy) * top + wy * bot, x.dtype)


def _grid(h, w):
    gy, gx = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32),
                         indexing="ij")
    return tf.stack([gy, gx], axis=-1)


def _affine_points(points, transform):
    """Apply the (8,) affine part of a projective transform to (..., 2) (row, col) points."""
    y, x = points[..., 0], points[..., 1]
    t = tf.unstack(tf.cast(transform, tf.float32))
    return tf.stack([t[3] * x + t[4] * y + t[5], t[0] * x + t[1] * y + t[2]], axis=-1)


# ---------------------------------------------------------------- joint augmentation

# Working dtypes for label maps (what ImageProjectiveTransformV3 accepts); cast back after.
_WORK_DTYPE = {tf.bool: tf.uint8, tf.int8: tf.int32, tf.int16: tf.int32, tf.uint16: tf.int32,
               tf.uint32: tf.int64, tf.uint64: tf.int64, tf.bfloat16: tf.float32}


def _dihedral_choices(cfg: AugmentConfig, square: bool) -> tuple[int, ...]:
    """Dihedral indices (see :func:`irpath.data.augment.dihedral`) allowed by ``cfg``."""
    turns = (0, 1, 2, 3) if (cfg.rot90 and square) else (0, 2) if cfg.rot90 else (0,)
    flips = (0, 4, 6, 2) if cfg.flips else (0,)  # identity, left-right, up-down, both
    if square and cfg.rot90 and cfg.flips:
        return tuple(range(8))
    return tuple(sorted(set(turns) | set(flips)))


def _random_dihedral(tensors, seed, cfg: AugmentConfig):
    h, w = tensors[0].shape[0], tensors[0].shape[1]
    square = h is not None and h == w
    choices = tf.constant(_dihedral_choices(cfg, square), tf.int32)
    i = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=int(choices.shape[0]),
                                    dtype=tf.int32)
    return tf_dihedral(tensors, choices[i])


def _colour(image, seeds, cfg: AugmentConfig):
    if not any(v > 0 for v in (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)):
        return image
    image = image / cfg.value_range if cfg.value_range != 1.0 else image
    if cfg.brightness > 0:
        image = tf.image.stateless_random_brightness(image, cfg.brightness, seeds[0])
    if cfg.contrast > 0:
        image = tf.image.stateless_random_contrast(image, 1 - cfg.contrast, 1 + cfg.contrast,
                                                   seeds[1])
    image = tf.clip_by_value(image, 0.0, 1.0)
    if cfg.saturation > 0 or cfg.hue > 0:
        if image.shape[-1] != 3:
            raise ConfigError(f"saturation/hue jitter needs 3 channels, got {image.shape[-1]}")
        if cfg.saturation > 0:
            image = tf.image.stateless_random_saturation(image, 1 - cfg.saturation,
                                                         1 + cfg.saturation, seeds[2])
        if cfg.hue > 0:
            image = tf.image.stateless_random_hue(image, cfg.hue, seeds[3])
        image = tf.clip_by_value(image, 0.0, 1.0)
    return image * cfg.value_range if cfg.value_range != 1.0 else image


@_plain
def augment(image, labels, seed, cfg: AugmentConfig = AugmentConfig()):
    """Apply one random geometric transform to image and labels, and colour jitter to the image.

    Args:
        image: (H, W, C) float32, values in [0, ``cfg.value_range``] when colour jitter is on.
        labels: a tensor, or a tuple/list/dict of tensors, each (H, W) or (H, W, K)
            (e.g. (H, W, 1)), integer/bool (nearest) or float (nearest, or
            bilinear with ``cfg.bilinear_float_labels``).
        seed: shape (2,) int32/int64 stateless seed.
        cfg: what to draw.

    Returns:
        ``(image, labels)``: the image (H, W, C) float32 and the labels in the
        same structure, shapes and dtypes as given. (Quarter turns are drawn
        only when H == W is known statically, so shapes never change.)
    """
    image = tf.convert_to_tensor(image, tf.float32)
    if image.shape.rank != 3:
        raise ValueError(f"augment: image must be (H, W, C), got shape {image.shape}")
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), _N_SEEDS)
    flat = [tf.convert_to_tensor(t) for t in tf.nest.flatten(labels)]
    dtypes, ranks, maps = [], [], []
    for t in flat:
        if t.shape.rank not in (2, 3):
            raise ValueError(f"augment: label maps must be (H, W) or (H, W, K), got {t.shape}")
        dtypes.append(t.dtype)
        ranks.append(t.shape.rank)
        t = t[..., None] if t.shape.rank == 2 else t
        maps.append(tf.cast(t, _WORK_DTYPE.get(t.dtype, t.dtype)))
    interp = ["BILINEAR" if (cfg.bilinear_float_labels and m.dtype.is_floating) else "NEAREST"
              for m in maps]
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    image_shape, map_shapes = image.shape, [m.shape for m in maps]

    transform = None
    if cfg.has_affine:
        u = tf.random.stateless_uniform([3], seed=seeds[0], minval=-1.0, maxval=1.0)
        lo, hi = math.log(cfg.scale[0]), math.log(cfg.scale[1])
        scale = tf.exp(lo + (u[1] + 1.0) / 2.0 * (hi - lo))
        transform = affine_transform(u[0] * cfg.rotation, scale, u[2] * cfg.shear, h, w)

    def affine_only():
        if transform is None:
            return [tf.identity(image)] + [tf.identity(m) for m in maps]
        return ([apply_affine(image, transform, "BILINEAR", cfg.fill_mode)]
                + [apply_affine(m, transform, i, cfg.fill_mode) for m, i in zip(maps, interp)])

    if cfg.elastic_alpha > 0 and cfg.elastic_prob > 0:
        def elastic():  # one resampling at affine(p + d(p)): no double interpolation
            points = _grid(h, w) + elastic_displacement(seeds[2], h, w, cfg.elastic_alpha,
                                                        cfg.elastic_sigma)
            if transform is not None:
                points = _affine_points(points, transform)
            return ([warp(image, points, "BILINEAR", cfg.fill_mode)]
                    + [warp(m, points, i, cfg.fill_mode) for m, i in zip(maps, interp)])

        gate = tf.random.stateless_uniform([], seed=seeds[1]) < cfg.elastic_prob
        image, *maps = tf.cond(gate, elastic, affine_only)
        image.set_shape(image_shape)
        for m, shape in zip(maps, map_shapes):
            m.set_shape(shape)
    elif transform is not None:
        image, *maps = affine_only()

    if cfg.flips or cfg.rot90:
        image, *maps = _random_dihedral([image] + maps, seeds[3], cfg)

    image = _colour(image, seeds[4:], cfg)

    out = [tf.cast(m[..., 0] if r == 2 else m, d) for m, r, d in zip(maps, ranks, dtypes)]
    return image, tf.nest.pack_sequence_as(labels, out)


# ---------------------------------------------------------------- crops


def _crop_indices(n, size: int, u, pad_mode: str):
    """Indices of a random window of ``size`` along an axis of length ``n``, and validity."""
    n64 = tf.cast(n, tf.float32)
    room = tf.abs(n64 - size) + 1.0
    shift = tf.minimum(tf.floor(u * room), room - 1.0)
    start = tf.cast(tf.where(n64 >= size, shift, -shift), tf.int32)
    idx = start + tf.range(size)
    if pad_mode == "reflect":
        return _reflect(idx, n), None
    return tf.clip_by_value(idx, 0, n - 1), (idx >= 0) & (idx < n)


@_plain
def random_crop(image, labels, size, seed, pad_mode: str = "constant"):
    """The same random (h, w) window of the image and every label map.

    When the image is smaller than the window along an axis, it is placed at a
    random position inside the window and the rest is filled per ``pad_mode``:
    ``"constant"`` (default; 0 in image and labels = background) or
    ``"reflect"`` (mirrored content, any amount).

    Args:
        image: (H, W, C) tensor.
        labels: a tensor or tuple/list/dict of tensors, each (H, W) or (H, W, K).
        size: int or (h, w) window size.
        seed: shape (2,) int32/int64 stateless seed.
        pad_mode: "constant" or "reflect".

    Returns:
        ``(image, labels)`` of spatial size (h, w), same structure and dtypes.
    """
    if pad_mode not in FILL_MODES:
        raise ConfigError(f"pad_mode must be one of {FILL_MODES}, got {pad_mode!r}")
    ch, cw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    image = tf.convert_to_tensor(image)
    u = tf.random.stateless_uniform([2], seed=tf.cast(seed, tf.int64))
    rows, row_ok = _crop_indices(tf.shape(image)[0], ch, u[0], pad_mode)
    cols, col_ok = _crop_indices(tf.shape(image)[1], cw, u[1], pad_mode)

    def crop(t):
        t = tf.convert_to_tensor(t)
        out = tf.gather(tf.gather(t, rows, axis=0), cols, axis=1)
        if row_ok is not None:
            ok = row_ok[:, None] & col_ok[None, :]
            ok = tf.reshape(ok, tf.concat([[ch, cw], tf.ones([t.shape.rank - 2], tf.int32)], 0))
            out = tf.where(ok, out, tf.zeros_like(out))
        out.set_shape([ch, cw] + t.shape.as_list()[2:])
        return out

    return crop(image), tf.nest.map_structure(crop, labels)


"""Joint image/label augmentation: alignment, exactness, determinism, graph mode."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from irpath.data.augment import dihedral
from irpath.data.joint_augment import (AugmentConfig, affine_transform, apply_affine, augment,
                                       elastic_displacement, random_crop, warp)
from irpath.data.rgb_pipeline import context_size
from irpath.errors import ConfigError

NO_COLOUR = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
IDENTITY = dict(rotation=0.0, scale=(1.0, 1.0), shear=0.0, flips=False, rot90=False, **NO_COLOUR)


def geometry(**changes):
    return AugmentConfig(**{**IDENTITY, **changes})


def blocks(h=40, w=40):
    """An int32 label map with blocks/discs labelled 1..5 on 0."""
    lab = np.zeros((h, w), np.int32)
    lab[3:12, 4:15] = 1
    lab[20:34, 3:11] = 2
    lab[8:20, 22:36] = 3
    yy, xx = np.mgrid[:h, :w]
    lab[(yy - 30) ** 2 + (xx - 28) ** 2 < 36] = 4
    lab[14:18, 14:19] = 5
    return lab


def interior(lab):
    """Pixels whose 3x3 neighbourhood holds one label (so not on an edge or the frame)."""
    same = ndimage.minimum_filter(lab, 3) == ndimage.maximum_filter(lab, 3)
    same[[0, -1], :] = same[:, [0, -1]] = False
    return same


def image_of(lab):
    """Channel 0 = the label as float, channel 1 = 1 on :func:`interior` pixels."""
    return np.stack([lab, interior(lab), np.zeros_like(lab)], -1).astype(np.float32)


def assert_aligned(image, lab, original):
    """Where all (bilinear) sources of an output pixel were interior input pixels (channel 1
    still exactly 1), those sources share one label L: the image must read L, and so must
    the nearest-neighbour label, which comes from one of them."""
    image, lab = np.asarray(image), np.asarray(lab)
    assert set(np.unique(lab)) <= set(np.unique(original))
    clean = image[..., 1] > 1 - 1e-5
    assert clean.mean() > 0.4
    np.testing.assert_allclose(image[..., 0][clean], lab[clean], atol=1e-4)


CASES = {
    "rotation": geometry(rotation=180.0),
    "scale": geometry(scale=(0.7, 1.4)),
    "shear": geometry(shear=20.0),
    "elastic": geometry(elastic_alpha=2.0, elastic_sigma=4.0, elastic_prob=1.0),
    "flips_rot90": geometry(flips=True, rot90=True),
    "all": AugmentConfig(elastic_alpha=2.0, elastic_sigma=4.0, elastic_prob=1.0, **NO_COLOUR),
    "all_constant": AugmentConfig(elastic_alpha=2.0, elastic_sigma=4.0, elastic_prob=1.0,
                                  fill_mode="constant", **NO_COLOUR),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_labels_stay_aligned_and_exact(name):
    cfg, lab = CASES[name], blocks()
    changed = 0
    for s in range(4):
        maps = (lab, lab.astype(np.uint8), lab[..., None])
        image, (out, out8, out1) = augment(image_of(lab), maps, tf.constant([s, 7]), cfg)
        assert out.dtype == tf.int32 and out8.dtype == tf.uint8 and out1.dtype == tf.int32
        assert out.shape == (40, 40) and out1.shape == (40, 40, 1)
        np.testing.assert_array_equal(out.numpy(), out8.numpy())
        np.testing.assert_array_equal(out.numpy(), out1.numpy()[..., 0])
        assert_aligned(image, out, lab)
        changed += not np.array_equal(out.numpy(), lab)
    assert changed >= 3  # the transform really acts


@pytest.mark.parametrize("name", sorted(CASES))
def test_labels_follow_the_image_to_half_a_pixel(name):
    """Image = (row, col, 1) ramps, labels = integer row/col maps. Bilinear sampling of a
    ramp returns the exact sample point, nearest its rounding: they differ by <= 0.5 px
    wherever the sample is inside the image (channel 2 still 1); a shift would show."""
    rows, cols = np.mgrid[:40, :40].astype(np.int32)
    image = np.stack([rows, cols, np.ones_like(rows)], -1).astype(np.float32)
    for s in range(3):
        out, (r, c) = augment(image, (rows, cols), tf.constant([s, 11]), CASES[name])
        out, r, c = out.numpy(), r.numpy(), c.numpy()
        valid = out[..., 2] > 1 - 1e-5
        assert valid.mean() > 0.5
        assert np.abs(out[..., 0] - r)[valid].max() <= 0.5 + 1e-3
        assert np.abs(out[..., 1] - c)[valid].max() <= 0.5 + 1e-3


def test_same_seed_same_output_different_seed_different():
    cfg, lab = AugmentConfig(elastic_alpha=2.0, elastic_prob=1.0), blocks()
    rgb = np.random.default_rng(0).uniform(0, 1, (40, 40, 3)).astype(np.float32)
    a = augment(rgb, {"y": lab}, tf.constant([3, 4]), cfg)
    b = augment(rgb, {"y": lab}, tf.constant([3, 4], tf.int64), cfg)
    c = augment(rgb, {"y": lab}, tf.constant([3, 5]), cfg)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1]["y"].numpy(), b[1]["y"].numpy())
    assert not np.allclose(a[0].numpy(), c[0].numpy())
    assert not np.array_equal(a[1]["y"].numpy(), c[1]["y"].numpy())


def test_graph_mode_matches_eager():
    cfg, lab = CASES["all"], blocks()
    image = image_of(lab)
    eager = augment(image, (lab,), tf.constant([1, 2]), cfg)
    fn = tf.function(lambda x, y, s: augment(x, (y,), s, cfg))
    graph = fn(tf.constant(image), tf.constant(lab), tf.constant([1, 2]))
    ds = tf.data.Dataset.from_tensors((image, lab)).map(
        lambda x, y: augment(x, (y,), tf.constant([1, 2]), cfg))
    mapped = next(iter(ds))
    for other in (graph, mapped):
        np.testing.assert_allclose(other[0].numpy(), eager[0].numpy(), atol=1e-4)  # op fusion
        np.testing.assert_array_equal(other[1][0].numpy(), eager[1][0].numpy())
    assert_aligned(mapped[0], mapped[1][0], lab)


def test_flips_and_quarter_turns_are_exact_dihedral_transforms():
    x = np.arange(36, dtype=np.int32).reshape(6, 6)
    seen = set()
    for s in range(40):
        image, out = augment(x[..., None].astype(np.float32), x, tf.constant([s, 0]),
                             geometry(flips=True, rot90=True))
        out = out.numpy()
        ks = [k for k in range(8) if np.array_equal(out, dihedral(x, k))]
        assert len(ks) == 1
        np.testing.assert_array_equal(image.numpy()[..., 0], out)
        seen.add(ks[0])
    assert seen == set(range(8))


def test_non_square_draws_only_shape_preserving_transforms():
    x = np.arange(24, dtype=np.int32).reshape(4, 6)
    seen = set()
    for s in range(30):
        _, out = augment(np.zeros((4, 6, 3), np.float32), x, tf.constant([s, 1]),
                         geometry(flips=True, rot90=True))
        assert out.shape == (4, 6)
        seen |= {k for k in (0, 2, 4, 6) if np.array_equal(out.numpy(), dihedral(x, k))}
    assert seen == {0, 2, 4, 6}


@pytest.mark.parametrize("angle, k", [(90, 1), (180, 2), (-90, 3), (270, 3)])
def test_affine_quarter_turn_equals_rot90(angle, k):
    x = np.random.default_rng(1).integers(0, 9, (7, 7, 2)).astype(np.int32)
    m = affine_transform(angle, 1.0, 0.0, 7, 7)
    np.testing.assert_array_equal(apply_affine(x, m, "NEAREST").numpy(), np.rot90(x, k))
    xf = x.astype(np.float32)
    np.testing.assert_allclose(apply_affine(xf, m, "BILINEAR").numpy(), np.rot90(xf, k),
                               atol=1e-4)


def test_affine_scale_and_shear_on_a_ramp():
    h = w = 21
    c = (w - 1) / 2
    ramp = np.tile(np.arange(w, dtype=np.float32), (h, 1))[..., None]  # value = x
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    zoom = apply_affine(ramp, affine_transform(0.0, 2.0, 0.0, h, w), "BILINEAR").numpy()[..., 0]
    np.testing.assert_allclose(zoom, c + (xx - c) / 2, atol=1e-4)  # in = c + (out - c) / 2
    t = math.tan(math.radians(10.0))
    sheared = apply_affine(ramp, affine_transform(0.0, 1.0, 10.0, h, w), "BILINEAR").numpy()
    expected = c + (xx - c) + t * (yy - c)
    inside = (expected >= 0) & (expected <= w - 1)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(sheared[..., 0][inside], expected[inside], atol=1e-4)


def dense_warp(x, disp, interpolation, fill_mode="reflect"):
    grid = np.stack(np.mgrid[:x.shape[0], :x.shape[1]], -1).astype(np.float32)
    return warp(x, grid + disp, interpolation, fill_mode)


def test_dense_warp_shifts_and_fills():
    x = np.arange(20, dtype=np.float32).reshape(4, 5, 1)
    disp = np.zeros((4, 5, 2), np.float32)
    disp[..., 1] = 0.6  # dx: nearest rounds to +1, bilinear blends
    near = dense_warp(tf.constant(x.astype(np.int32)), disp, "NEAREST", "constant").numpy()
    np.testing.assert_array_equal(near[:, :4], x[:, 1:].astype(np.int32))
    np.testing.assert_array_equal(near[:, 4], 0)
    refl = dense_warp(tf.constant(x.astype(np.int32)), disp, "NEAREST", "reflect").numpy()
    np.testing.assert_array_equal(refl[:, 4], x[:, 4])  # index 5 reflects to 4
    bil = dense_warp(x, disp, "BILINEAR", "reflect").numpy()
    np.testing.assert_allclose(bil[:, :4], 0.4 * x[:, :4] + 0.6 * x[:, 1:], atol=1e-5)
    zero = dense_warp(x, np.zeros_like(disp), "BILINEAR").numpy()
    np.testing.assert_array_equal(zero, x)


def test_elastic_field_has_requested_size_and_is_smooth():
    d = elastic_displacement(tf.constant([0, 1]), 96, 96, alpha=3.0, sigma=3.0).numpy()
    centre = d[12:-12, 12:-12]
    assert 2.0 < centre.std() < 4.0
    step = np.abs(np.diff(centre, axis=0)).mean()
    assert step < 0.5 * centre.std()  # neighbours move together


def test_colour_jitter_touches_the_image_only():
    rgb = np.random.default_rng(2).uniform(0.1, 0.9, (16, 16, 3)).astype(np.float32)
    lab = blocks(16, 16)
    weights = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    cfg = AugmentConfig(**{**IDENTITY, "brightness": 0.2, "contrast": 0.3, "saturation": 0.5,
                           "hue": 0.2})
    for s in range(3):
        out, (y, wm) = augment(rgb, (lab, weights), tf.constant([s, 9]), cfg)
        out = out.numpy()
        assert np.abs(out - rgb).max() > 0.02
        assert out.min() >= 0.0 and out.max() <= 1.0
        np.testing.assert_array_equal(y.numpy(), lab)
        np.testing.assert_array_equal(wm.numpy(), weights)
    hue_only = AugmentConfig(**{**IDENTITY, "hue": 0.5, "saturation": 0.9})
    out = augment(rgb, lab, tf.constant([0, 0]), hue_only)[0].numpy()
    assert out.min() >= 0.0 and out.max() <= 1.0 and not np.allclose(out, rgb)


def test_colour_jitter_of_a_0_255_image_is_the_0_1_jitter_scaled():
    """value_range=255: raw RGB is jittered like its [0, 1] copy, not clipped to white (issue 23)."""
    rgb = np.random.default_rng(3).uniform(0.1, 0.9, (16, 16, 3)).astype(np.float32)
    jitter = {**IDENTITY, "brightness": 0.2, "contrast": 0.3, "saturation": 0.5, "hue": 0.1}
    seed = tf.constant([4, 2])
    unit = augment(rgb, blocks(16, 16), seed, AugmentConfig(**jitter))[0].numpy()
    raw = augment(rgb * 255, blocks(16, 16), seed, AugmentConfig(**jitter, value_range=255.0))[0].numpy()
    np.testing.assert_allclose(raw, unit * 255, atol=1e-2)
    assert raw.mean() < 0.95 * 255  # clipping at 1.0 would make every pixel 1.0 (white)
    with pytest.raises(ConfigError, match="value_range"):
        AugmentConfig(value_range=0.0)


def test_float_weight_maps_nearest_by_default_bilinear_on_request():
    weights = np.random.default_rng(3).uniform(0, 1, (24, 24)).astype(np.float32)
    cfg = geometry(rotation=30.0)
    near = augment(np.zeros((24, 24, 3), np.float32), weights, tf.constant([0, 1]), cfg)[1]
    assert set(np.unique(near.numpy())) <= set(np.unique(weights))
    cfg = geometry(rotation=30.0, bilinear_float_labels=True)
    bil = augment(np.zeros((24, 24, 3), np.float32), weights, tf.constant([0, 1]), cfg)[1]
    assert not set(np.unique(bil.numpy())) <= set(np.unique(weights))


def test_random_crop_is_one_window_of_image_and_labels():
    x = np.arange(12 * 10).reshape(12, 10).astype(np.int32)
    image = np.stack([x, x + 1000, x], -1).astype(np.float32)
    corners = set()
    for s in range(10):
        im, (y,) = random_crop(image, (x,), (5, 4), tf.constant([s, 2]))
        y = y.numpy()
        r, c = divmod(int(y[0, 0]), 10)
        np.testing.assert_array_equal(y, x[r:r + 5, c:c + 4])
        np.testing.assert_array_equal(im.numpy()[..., 0], y)
        corners.add((r, c))
    assert len(corners) > 3
    a = random_crop(image, x, 5, tf.constant([1, 1]))
    b = random_crop(image, x, 5, tf.constant([1, 1]))
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_random_crop_pads_small_images(pad_mode):
    x = np.arange(1, 13, dtype=np.int32).reshape(3, 4)
    im, y = random_crop(x[..., None].astype(np.float32), x, 8, tf.constant([4, 4]), pad_mode)
    y = y.numpy()
    assert y.shape == (8, 8)
    np.testing.assert_array_equal(im.numpy()[..., 0], y)
    if pad_mode == "constant":
        rows, cols = np.nonzero(y)
        r, c = rows.min(), cols.min()
        np.testing.assert_array_equal(y[r:r + 3, c:c + 4], x)
        assert (y != 0).sum() == 12
    else:
        assert set(np.unique(y)) <= set(range(1, 13))


def test_context_window_covers_the_centre_crop():
    crop, cfg = 12, AugmentConfig(shear=10.0, scale=(0.8, 1.2), elastic_alpha=1.0,
                                  elastic_prob=1.0, fill_mode="constant", **NO_COLOUR)
    size = context_size(crop, cfg)
    assert size >= math.ceil(crop * math.sqrt(2) / 0.8)
    lo = (size - crop) // 2
    ones = np.ones((size, size), np.int32)
    filled = 0
    for s in range(8):
        _, y = augment(np.ones((size, size, 3), np.float32), ones, tf.constant([s, 3]), cfg)
        assert (y.numpy()[lo:lo + crop, lo:lo + crop] == 1).all()
        filled += (y.numpy() == 0).any()  # fill (0) appears, but only outside the centre
    assert filled >= 4


def test_config_validation_and_dict_round_trip():
    cfg = AugmentConfig(scale=[0.9, 1.1], elastic_alpha=3.0)
    assert cfg.scale == (0.9, 1.1)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (dict(rotation=200), dict(scale=(1.2, 0.8)), dict(hue=0.6),
                dict(fill_mode="wrap"), dict(elastic_sigma=0), dict(contrast=1.0)):
        with pytest.raises(ConfigError):
            AugmentConfig(**bad)
    with pytest.raises(ConfigError, match="unknown"):
        AugmentConfig.from_dict({"rotate": 3})


def test_warp_at_affine_points_matches_the_projective_op():
    """The elastic branch samples ``affine(p + d)`` with :func:`warp`; with d = 0 it must
    agree with ``ImageProjectiveTransformV3`` (the branch taken without elastic)."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (15, 15, 2)).astype(np.float32)
    t = affine_transform(33.0, 1.1, 7.0, 15, 15).numpy()
    yy, xx = np.mgrid[:15, :15].astype(np.float32)
    points = np.stack([t[3] * xx + t[4] * yy + t[5], t[0] * xx + t[1] * yy + t[2]], -1)
    ours = warp(x, points, "BILINEAR", "constant").numpy()
    theirs = apply_affine(x, t, "BILINEAR", "constant").numpy()
    inside = ((points >= 0) & (points <= 14)).all(-1)
    np.testing.assert_allclose(ours[inside], theirs[inside], atol=1e-5)
    ids = rng.integers(0, 50, (15, 15, 1)).astype(np.int32)
    same = warp(ids, points, "NEAREST", "constant").numpy() == apply_affine(
        ids, t, "NEAREST", "constant").numpy()
    assert same[inside].mean() > 0.97  # only exact .5 rounding ties may differ

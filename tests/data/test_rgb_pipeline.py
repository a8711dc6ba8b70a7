"""RGB tf.data pipeline: shapes, per-(seed, epoch) determinism, alignment, Keras resume."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from irpath.data.joint_augment import AugmentConfig
from irpath.data.rgb_pipeline import make_rgb_dataset
from irpath.errors import ConfigError, ShapeError

NO_COLOUR = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
SIZES = [(20, 24), (16, 16), (10, 12), (24, 20), (18, 18), (22, 17)]


def tiles(sizes=SIZES, seed=0, block=4):
    """Tiles: channel 0 an integer block map, 1 the tile id, 2 = 1 away from block edges."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i, (h, w) in enumerate(sizes):
        grid = rng.integers(1, 6, (h // block + 1, w // block + 1))
        lab = np.kron(grid, np.ones((block, block)))[:h, :w]
        lab = lab.astype(np.int32)
        inside = ndimage.minimum_filter(lab, 3) == ndimage.maximum_filter(lab, 3)
        inside[[0, -1], :] = inside[:, [0, -1]] = False
        image = np.stack([lab, np.full((h, w), i), inside], -1)
        images.append(image.astype(np.float32))
        labels.append((lab, (lab * 0.5).astype(np.float32)))
    return images, labels


def batches(ds):
    return [(x.numpy(), tuple(y.numpy() for y in ys)) for x, ys in ds]


def assert_same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        for u, v in zip(ya, yb):
            np.testing.assert_array_equal(u, v)


def test_shapes_dtypes_and_count():
    images, labels = tiles()
    ds = make_rgb_dataset(images, labels, crop=12, batch_size=4, seed=0)
    x_spec, (y_spec, w_spec) = ds.element_spec
    assert x_spec.shape.as_list() == [None, 12, 12, 3] and x_spec.dtype == tf.float32
    assert y_spec.dtype == tf.int32 and w_spec.dtype == tf.float32
    got = batches(ds)
    assert [len(x) for x, _ in got] == [4, 2]
    for x, (y, w) in got:
        assert y.shape == x.shape[:3] == w.shape
        np.testing.assert_array_equal(x[..., 0], y)  # crops of image and labels coincide
        np.testing.assert_array_equal(w, y * 0.5)


def test_each_epoch_visits_every_tile_once_in_a_seeded_order():
    images, labels = tiles()
    orders = []
    for epoch in range(3):
        x = np.concatenate([b[0] for b in batches(
            make_rgb_dataset(images, labels, crop=8, batch_size=4, seed=5, epoch=epoch))])
        orders.append(tuple(int(v) for v in x[:, 0, 0, 1]))
        assert sorted(orders[-1]) == list(range(6))
    assert len(set(orders)) == 3  # each epoch shuffles differently
    x = np.concatenate([b[0] for b in batches(
        make_rgb_dataset(images, labels, crop=8, batch_size=4, seed=6, epoch=0))])
    assert tuple(int(v) for v in x[:, 0, 0, 1]) != orders[0]  # and each seed
    x = np.concatenate([b[0] for b in batches(
        make_rgb_dataset(images, labels, crop=8, batch_size=4, seed=5, shuffle=False))])
    assert list(x[:, 0, 0, 1]) == list(range(6))


def test_same_seed_and_epoch_same_batches_different_epoch_different():
    images, labels = tiles()
    cfg = AugmentConfig(elastic_alpha=1.0, elastic_prob=0.5)

    def make(**kw):
        return batches(make_rgb_dataset(images, labels, crop=10, batch_size=3, augment=cfg,
                                        **{"seed": 1, **kw}))

    first = make(epoch=2)
    assert_same(first, make(epoch=2))
    assert not np.allclose(first[0][0], make(epoch=3)[0][0])


def test_repeated_stream_epochs_equal_fresh_datasets():
    """Epoch e of the endless stream == a one-epoch dataset built for epoch e (resume)."""
    images, labels = tiles()
    cfg = AugmentConfig(**NO_COLOUR)
    stream = make_rgb_dataset(images, labels, crop=8, batch_size=2, seed=3, augment=cfg,
                              repeat=True, steps_per_epoch=4)
    got = batches(stream.take(8))
    fresh = make_rgb_dataset(images, labels, crop=8, batch_size=2, seed=3, augment=cfg,
                             epoch=1, steps_per_epoch=4)
    assert_same(got[4:8], batches(fresh))
    resumed = make_rgb_dataset(images, labels, crop=8, batch_size=2, seed=3, augment=cfg,
                               repeat=True, steps_per_epoch=4, epoch=1)
    assert_same(got[4:8], batches(resumed.take(4)))
    assert not np.allclose(got[0][0], got[4][0])


def test_labels_stay_aligned_after_crop_and_augment():
    images, labels = tiles(seed=1, block=8)
    cfg = AugmentConfig(elastic_alpha=1.5, elastic_sigma=4.0, elastic_prob=1.0, **NO_COLOUR)
    for x, (y, w) in batches(make_rgb_dataset(images, labels, crop=14, batch_size=6, seed=0,
                                              augment=cfg, epoch=1)):
        np.testing.assert_array_equal(w, y * 0.5)
        assert set(np.unique(y)) <= set(range(0, 6))
        clean = x[..., 2] > 1 - 1e-5  # all bilinear sources were away from block edges
        assert clean.mean() > 0.3
        np.testing.assert_allclose(x[..., 0][clean], y[clean], atol=1e-4)
        for xi in x:
            assert len(np.unique(np.round(xi[..., 1]))) == 1  # one tile per sample


def test_keras_fit_resume_sees_the_same_batches():
    images, labels = tiles()
    seen = []

    class Recorder(keras.Model):
        def train_step(self, data):
            seen.append(data[0].numpy()[:, 0, 0, 1].tolist())
            return {"loss": 0.0}

    def model():
        inp = keras.Input((8, 8, 3))
        m = Recorder(inp, keras.layers.Conv2D(1, 1)(inp))
        m.compile(optimizer="sgd", loss="mse", run_eagerly=True)
        return m

    def ds(epoch):
        return make_rgb_dataset(images, labels, crop=8, batch_size=2, seed=7, repeat=True,
                                epoch=epoch, steps_per_epoch=3)

    model().fit(ds(0), epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
    full, seen[:] = list(seen), []
    assert len(full) == 9
    model().fit(ds(2), epochs=3, initial_epoch=2, steps_per_epoch=3, shuffle=False, verbose=0)
    assert seen == full[6:9]
    assert full[0:3] != full[3:6]


def test_bad_inputs():
    images, labels = tiles()
    with pytest.raises(ConfigError, match="label tuples"):
        make_rgb_dataset(images, labels[:2], crop=8, batch_size=2, seed=0)
    with pytest.raises(ShapeError, match="label map 0 of image 1"):
        make_rgb_dataset(images, [labels[0]] * 6, crop=8, batch_size=2, seed=0)
    with pytest.raises(ConfigError, match="numbers of label maps"):
        make_rgb_dataset(images[:2], [labels[0], labels[1][:1]], crop=8, batch_size=2, seed=0)
    with pytest.raises(ConfigError):
        make_rgb_dataset(images, labels, crop=0, batch_size=2, seed=0)


def test_crop_and_augment_keep_labels_within_half_a_pixel():
    """Tiles of (row, col, 1) ramps with integer row/col label maps: after crop + augment,
    the bilinear image and the nearest labels name the same source pixel (to 0.5 px)."""
    images, labels = [], []
    for h, w in ((30, 26), (12, 40)):
        rows, cols = np.mgrid[:h, :w].astype(np.int32)
        images.append(np.stack([rows, cols, np.ones_like(rows)], -1).astype(np.float32))
        labels.append((rows, cols))
    cfg = AugmentConfig(elastic_alpha=1.5, elastic_sigma=4.0, elastic_prob=0.5, **NO_COLOUR)
    for x, (r, c) in batches(make_rgb_dataset(images, labels, crop=16, batch_size=4, seed=2,
                                              augment=cfg, steps_per_epoch=2)):
        assert np.abs(x[..., 0] - r).max() <= 0.5 + 1e-3
        assert np.abs(x[..., 1] - c).max() <= 0.5 + 1e-3
        np.testing.assert_allclose(x[..., 2], 1.0, atol=1e-5)  # reflect: never filled

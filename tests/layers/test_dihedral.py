import keras
import numpy as np
import pytest
import tensorflow as tf

from irpath.data.augment import SHAPE_PRESERVING, dihedral
from irpath.layers import DihedralTransform
from irpath.layers.dihedral import source_pixels
from tests.serialization import assert_layer_round_trip


def test_every_transform_matches_numpy_dihedral(rng):
    cube = rng.random((8, 6, 6, 3)).astype(np.float32)
    tissue = (rng.random((8, 6, 6, 1)) > 0.5).astype(np.float32)
    ks = np.array([5, 0, 7, 2, 1, 6, 3, 4], np.int32)
    got_cube, got_tissue = DihedralTransform()([cube, tissue, ks])
    for n, k in enumerate(ks):
        np.testing.assert_array_equal(np.asarray(got_cube[n]), dihedral(cube[n], k))
        np.testing.assert_array_equal(np.asarray(got_tissue[n]), dihedral(tissue[n], k))


def test_non_square_images_take_the_shape_preserving_transforms(rng):
    x = rng.random((4, 5, 7, 2)).astype(np.float32)
    ks = np.array(SHAPE_PRESERVING, np.int32)
    got = DihedralTransform()([x, ks])
    for n, k in enumerate(ks):
        np.testing.assert_array_equal(np.asarray(got[n]), dihedral(x[n], k))
    # each output pixel has exactly one source: a permutation of the pixels
    src = source_pixels(tf.constant(ks), 5, 7).numpy().reshape(4, -1)
    assert all(np.array_equal(np.sort(s), np.arange(35)) for s in src)


def test_float16_cubes_become_float32_on_the_way_in(rng):
    x = rng.random((2, 4, 4, 3)).astype(np.float16)
    got = DihedralTransform(dtype="float32")([x, np.array([1, 0], np.int32)])
    assert got.dtype == tf.float32
    np.testing.assert_array_equal(np.asarray(got[1]), x[1].astype(np.float32))


def test_round_trip(tmp_path, rng):
    x = rng.random((3, 4, 4, 2)).astype(np.float32)
    ks = np.array([1, 4, 6], np.int32)
    reloaded = assert_layer_round_trip(DihedralTransform(name="flip"), [x, ks], tmp_path)
    assert any(isinstance(layer, DihedralTransform) for layer in reloaded.layers)


def test_in_a_model_with_a_symbolic_batch():
    cube = keras.Input(shape=(None, None, 3))
    k = keras.Input(shape=(), dtype="int32")
    out = DihedralTransform()([cube, k])
    model = keras.Model([cube, k], out)
    x = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    got = np.asarray(model([x, np.array([0, 2], np.int32)]))
    np.testing.assert_array_equal(got[0], x[0])
    np.testing.assert_array_equal(got[1], x[1, ::-1, ::-1])


@pytest.mark.parametrize("k", range(8))
def test_source_pixels_are_the_inverse_map(k):
    grid = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(source_pixels(tf.constant([k]), 4, 4).numpy()[0], dihedral(grid, k))

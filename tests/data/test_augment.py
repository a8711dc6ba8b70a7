import numpy as np
import pytest
import tensorflow as tf

from irpath.data import dihedral, inverse_dihedral, random_dihedral, tf_dihedral


@pytest.fixture
def img():
    return np.arange(4 * 4 * 2, dtype=np.float32).reshape(4, 4, 2)


def test_eight_distinct_transforms(img):
    outs = {dihedral(img, k).tobytes() for k in range(8)}
    assert len(outs) == 8


def test_known_transforms(img):
    np.testing.assert_array_equal(dihedral(img, 0), img)
    np.testing.assert_array_equal(dihedral(img, 1), np.rot90(img))
    np.testing.assert_array_equal(dihedral(img, 4), img[:, ::-1])
    np.testing.assert_array_equal(dihedral(img, 6), img[::-1])


@pytest.mark.parametrize("k", range(8))
def test_inverse(img, k):
    np.testing.assert_array_equal(dihedral(dihedral(img, k), inverse_dihedral(k)), img)


@pytest.mark.parametrize("k", range(8))
def test_tf_matches_numpy_on_rectangles(k):
    cube = np.random.default_rng(k).normal(size=(5, 3, 4)).astype(np.float32)
    mask = (cube[..., 0] > 0).astype(np.float32)
    got_cube, got_mask, got_2d = tf_dihedral([cube, mask[..., None], mask],
                                             tf.constant(k))
    np.testing.assert_array_equal(got_cube.numpy(), dihedral(cube, k))
    np.testing.assert_array_equal(got_mask.numpy()[..., 0], dihedral(mask, k))
    np.testing.assert_array_equal(got_2d.numpy(), dihedral(mask, k))


def test_random_dihedral_is_stateless_and_covers_all(img):
    seen = set()
    for s in range(64):
        a = random_dihedral([img], tf.constant([7, s]))[0].numpy()
        b = random_dihedral([img], tf.constant([7, s]))[0].numpy()
        np.testing.assert_array_equal(a, b)
        seen.add(a.tobytes())
    assert len(seen) == 8
    rect = np.zeros((3, 5, 1), np.float32)
    for s in range(16):
        assert random_dihedral([rect], tf.constant([0, s]), square=False)[0].shape == (3, 5, 1)

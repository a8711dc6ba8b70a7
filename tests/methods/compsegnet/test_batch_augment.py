import numpy as np
import pytest
import tensorflow as tf

from irpath.data.augment import dihedral, random_dihedral
from irpath.methods.compsegnet.batch_augment import batch_dihedral, batch_random_dihedral, draw_transforms


def test_batch_dihedral_equals_numpy_dihedral_for_every_k(rng):
    x = rng.random((8, 5, 5, 3)).astype(np.float32)
    mask = (rng.random((8, 5, 5, 1)) > 0.5).astype(np.float32)
    ks = np.arange(8, dtype=np.int32)[::-1].copy()
    got_x, got_m = batch_dihedral([tf.constant(x), tf.constant(mask)], tf.constant(ks))
    for i, k in enumerate(ks):
        np.testing.assert_array_equal(got_x[i], dihedral(x[i], k))
        np.testing.assert_array_equal(got_m[i], dihedral(mask[i], k))


@pytest.mark.parametrize("shape,square", [((4, 6, 6), True), ((4, 5, 7), False)])
def test_batch_random_dihedral_matches_random_dihedral_per_sample(rng, shape, square):
    n, h, w = shape
    x = rng.random((n, h, w, 4)).astype(np.float32)
    t = (rng.random((n, h, w, 1)) > 0.5).astype(np.float32)
    draws = tf.constant([3, 17, 2**40 + 5, 0][:n], tf.int64)
    got_x, got_t = batch_random_dihedral([tf.constant(x), tf.constant(t)], 7, draws, square=square)
    ks = draw_transforms(7, draws, square=square).numpy()
    if not square:
        assert set(ks) <= {0, 2, 4, 6}
    for i in range(n):
        want = random_dihedral([tf.constant(x[i]), tf.constant(t[i])],
                               tf.stack([tf.constant(7, tf.int64), draws[i]]), square=square)
        np.testing.assert_array_equal(got_x[i], want[0])
        np.testing.assert_array_equal(got_t[i], want[1])


def test_draws_cover_all_transforms_and_depend_on_seed():
    draws = tf.range(64, dtype=tf.int64)
    a = draw_transforms(0, draws).numpy()
    assert set(a) == set(range(8))
    assert not np.array_equal(a, draw_transforms(1, draws).numpy())

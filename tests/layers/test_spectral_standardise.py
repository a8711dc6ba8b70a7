import numpy as np

from irpath.layers import SpectralStandardise
from tests.serialization import assert_layer_round_trip


def test_standardises_tissue_and_keeps_background_zero(rng):
    mean = np.array([1.0, 2.0, 3.0], np.float32)
    std = np.array([0.5, 1.0, 2.0], np.float32)
    x = rng.normal(size=(2, 4, 5, 3)).astype(np.float32) + 5
    x[0, 0, 0] = 0.0            # background pixel
    x[1, 2, 3] = np.nan         # NaN pixel -> treated as background
    y = np.asarray(SpectralStandardise(mean, std)(x))
    expected = (x - mean) / std
    expected[0, 0, 0] = 0.0
    expected[1, 2, 3] = 0.0
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert np.isfinite(y).all()


def test_std_is_floored():
    y = np.asarray(SpectralStandardise([0.0], [0.0])(np.ones((1, 1, 1, 1), np.float32)))
    assert np.isfinite(y).all() and y[0, 0, 0, 0] == np.float32(1e6)


def test_round_trip(tmp_path, rng):
    layer = SpectralStandardise(rng.random(4), rng.random(4) + 0.5, name="std")
    assert_layer_round_trip(layer, rng.random((2, 3, 3, 4)).astype(np.float32), tmp_path)

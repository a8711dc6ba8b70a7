import numpy as np
import pytest

from irpath.layers import TissueNoise
from tests.serialization import assert_layer_round_trip


def test_noise_on_tissue_only_and_only_in_training(rng):
    x = rng.normal(size=(4, 16, 16, 32)).astype(np.float32)
    x[:, :4] = 0.0                                   # background rows
    layer = TissueNoise(0.3, seed=1)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)        # inference is the default
    y = np.asarray(layer(x, training=True))
    assert np.all(y[:, :4] == 0.0)                                # background stays exactly 0
    noise = (y - x)[:, 4:]
    assert noise.std() == pytest.approx(0.3, rel=0.03)
    assert abs(noise.mean()) < 0.01
    y2 = np.asarray(layer(x, training=True))
    assert not np.allclose(y, y2)                                 # fresh noise every call
    assert np.all(np.asarray(TissueNoise(0.0)(x, training=True)) == x)
    with pytest.raises(ValueError, match="stddev"):
        TissueNoise(-1.0)


def test_round_trip(tmp_path, rng):
    layer = TissueNoise(0.2, seed=3, name="noise")
    assert_layer_round_trip(layer, rng.random((2, 3, 3, 4)).astype(np.float32), tmp_path)
    assert layer.get_config()["stddev"] == 0.2 and layer.get_config()["seed"] == 3

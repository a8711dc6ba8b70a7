import math

import numpy as np
import pytest

from irpath.layers import PoolingNeuron, sigma_abg
from tests.serialization import assert_layer_round_trip


def sigma_paper(x, a=0.1, b=5.0, g=0.001):
    """The paper's formula, literally."""
    return a * (2.0 / (1.0 + math.exp(-b * x / a)) - 1.0) + g * x


@pytest.mark.parametrize("x", [0.0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.35, 1.0, -0.03])
def test_sigma_matches_paper_formula(x):
    assert float(sigma_abg(np.float32(x))) == pytest.approx(sigma_paper(x), rel=1e-5, abs=1e-7)


def test_sigma_hand_values():
    assert float(sigma_abg(np.float32(0.0))) == 0.0
    # x = α/β·2·atanh(1/2)... simpler: at x = 0.02, βx/α = 1 -> α(2/(1+e^-1) - 1) + γ·0.02
    assert float(sigma_abg(np.float32(0.02))) == pytest.approx(0.1 * 0.46211716 + 0.00002, rel=1e-5)
    # with other parameters
    assert float(sigma_abg(np.float32(0.5), 0.2, 1.0, 0.0)) == pytest.approx(0.2 * math.tanh(1.25), rel=1e-6)


def test_sigma_bounds_and_monotone():
    x = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    s = np.asarray(sigma_abg(x))
    assert (np.diff(s) > 0).all()
    assert s.max() < 0.1 + 0.001 + 1e-7           # σ(x) < α + γ·x on [0, 1]
    assert np.asarray(sigma_abg(x, gamma=0.0)).max() <= 0.1  # the sigmoid part is bounded by α
    assert float(sigma_abg(np.float32(1e4), gamma=0.0)) == pytest.approx(0.1, rel=1e-6)


def test_pooling_counts_only_tissue_pixels():
    amap = np.zeros((2, 4, 4, 1), np.float32)
    tissue = np.zeros((2, 4, 4, 1), np.float32)
    tissue[0, :2] = 1                     # 8 tissue pixels
    amap[0, 0, :2] = 1.0                  # 2 of them active -> fraction 0.25
    amap[0, 3, :] = 1.0                   # active background is ignored
    # spot 1 has no tissue -> pools to 0
    amap[1] = 1.0
    layer = PoolingNeuron()
    frac = np.asarray(layer.pooled_fraction(amap, tissue))
    np.testing.assert_allclose(frac, [0.25, 0.0])
    out = np.asarray(layer([amap, tissue]))
    np.testing.assert_allclose(out, [sigma_paper(0.25), 0.0], rtol=1e-5)


def test_pooling_round_trip(tmp_path, rng):
    layer = PoolingNeuron(alpha=0.2, beta=3.0, gamma=0.01, name="p")
    amap = rng.random((3, 5, 6, 1)).astype(np.float32)
    tissue = (rng.random((3, 5, 6, 1)) > 0.3).astype(np.float32)
    assert_layer_round_trip(layer, [amap, tissue], tmp_path)
    assert PoolingNeuron.from_config(layer.get_config()).alpha == 0.2

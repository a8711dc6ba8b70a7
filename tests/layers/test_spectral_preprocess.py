"""Spectral preprocessing layers against scipy / numpy on the same spectra, with round-trips."""

import numpy as np
import pytest
from scipy.signal import savgol_filter

from irpath.layers import MinMaxScale, SavitzkyGolay, VectorNormalise
from irpath.layers.spectral_preprocess import preprocessing_layers
from irpath.spectra.preprocess import PreprocessSpec, band_slice, preprocess_spectra
from tests.serialization import assert_layer_round_trip

AXIS = np.linspace(1800.0, 948.0, 60)


@pytest.fixture
def cube(rng):
    """(2, 3, 4, 60) float32 spectra with two all-zero (background) pixels and one NaN pixel."""
    x = (np.sin(AXIS / 37.0) + 1.5 + 0.3 * rng.normal(size=(2, 3, 4, 60))).astype(np.float32)
    x[0, 0, 0] = 0
    x[1, 2, 3] = 0
    return x


def _run(layer, x):
    return np.asarray(layer(x), dtype=np.float64)


def test_vector_normalise_matches_numpy_and_keeps_background(cube, tmp_path):
    out = _run(VectorNormalise(), cube)
    ref = cube / np.linalg.norm(cube.astype(np.float64), axis=-1, keepdims=True).clip(1e-30)
    np.testing.assert_allclose(out[cube.any(-1)], ref[cube.any(-1)], rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[cube.any(-1)], axis=-1), 1.0, rtol=1e-5)
    assert np.all(out[0, 0, 0] == 0) and np.all(out[1, 2, 3] == 0) and np.isfinite(out).all()
    assert_layer_round_trip(VectorNormalise(name="vn"), cube, tmp_path)


@pytest.mark.parametrize("window,order,deriv", [(5, 2, 1), (9, 2, 1), (11, 3, 2), (7, 4, 2), (15, 3, 0)])
def test_savitzky_golay_equals_savgol_filter_interp(cube, window, order, deriv):
    out = _run(SavitzkyGolay(window, order, deriv), cube)
    ref = savgol_filter(cube.astype(np.float64), window, order, deriv=deriv, mode="interp", axis=-1)
    np.testing.assert_allclose(out, ref, atol=2e-5 * np.abs(ref).max())
    assert np.all(out[0, 0, 0] == 0)


def test_savitzky_golay_round_trip_and_nan_background(cube, tmp_path):
    x = cube.copy()
    x[0, 1, 1] = np.nan
    out = _run(SavitzkyGolay(9, 2, 1), x)
    assert np.isfinite(out).all() and np.all(out[0, 1, 1] == 0)
    assert_layer_round_trip(SavitzkyGolay(9, 3, 2, name="sg"), cube, tmp_path)


@pytest.mark.parametrize("band", [None, "amide"])
def test_minmax_matches_numpy(cube, band, tmp_path):
    a, b = (0, 60) if band is None else band_slice(AXIS)
    layer = MinMaxScale(None, None) if band is None else MinMaxScale(a, b)
    out = _run(layer, cube)
    x = cube.astype(np.float64)
    lo, hi = x[..., a:b].min(-1, keepdims=True), x[..., a:b].max(-1, keepdims=True)
    fg = cube.any(-1)
    with np.errstate(invalid="ignore"):  # background rows: 0 / 0
        want = (x - lo) / (hi - lo)
    np.testing.assert_allclose(out[fg], want[fg], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[fg][:, a:b].max(-1), 1.0, rtol=1e-6)
    assert np.all(out[~fg] == 0) and np.isfinite(out).all()
    assert_layer_round_trip(MinMaxScale(a if band else None, b if band else None, name="mm"), cube, tmp_path)


@pytest.mark.parametrize("spec", [
    dict(vector_norm=True), dict(sg_deriv=1), dict(vector_norm=True, sg_deriv=2, sg_window=11, sg_order=3),
    dict(vector_norm=True, sg_deriv=1, minmax="amide"), dict(minmax="spectrum")])
def test_layer_chain_equals_numpy_twin(cube, spec):
    x = cube.copy()
    x[1, 0, 0] = np.nan
    y = x
    for layer in preprocessing_layers(spec, AXIS):
        y = layer(y)
    want = preprocess_spectra(x, PreprocessSpec(**spec), AXIS)
    np.testing.assert_allclose(np.asarray(y), want, atol=2e-5 * max(1.0, np.abs(want).max()))
    assert np.all(want[0, 0, 0] == 0) and np.all(np.asarray(y)[1, 0, 0] == 0)


def test_spec_validation_and_json():
    from irpath.errors import ConfigError

    spec = PreprocessSpec.from_value({"vector_norm": True, "sg_deriv": 1})
    assert spec.to_dict() == {"vector_norm": True, "sg_deriv": 1}
    assert PreprocessSpec.from_value(spec.to_dict()) == spec and PreprocessSpec.from_value({}).is_identity
    for bad in ({"sg_deriv": 3}, {"sg_window": 8}, {"sg_order": 9, "sg_window": 9},
                {"minmax": "peak"}, {"sg_deriv": 2, "sg_order": 1}, {"nope": 1}):
        with pytest.raises(ConfigError):
            PreprocessSpec.from_value(bad)

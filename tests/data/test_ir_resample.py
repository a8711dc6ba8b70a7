"""IR tiles resampled on the fly equal the cache's resampled spots, bit for bit."""

import numpy as np
import pytest

from irpath.data.ir_resample import ir_tile_preparer
from irpath.errors import ShapeError
from irpath.inference.tiling import predict_tiled


def _envi(tmp_path, cube, axis):
    import spectral.io.envi as envi
    path = tmp_path / "spot.hdr"
    envi.save_image(str(path), cube, dtype=np.float32, interleave="bip", force=True,
                    metadata={"wavelength": list(map(float, axis)), "wavelength units": "cm-1"})
    return path


def test_ir_preparer_matches_prepare_spot(tmp_path, rng):
    """Off-axis ENVI cube with NaN background pixels: tiles prepared on the fly equal
    prepare_spot's resampled data with NaN/invalid pixels zeroed, bit for bit."""
    from irpath.data.cache import prepare_spot
    from irpath.io import read_cube

    src_axis = np.linspace(1801.9, 946.1, 61)
    target = np.linspace(1800.0, 948.0, 40)
    cube = rng.random((13, 11, src_axis.size), dtype=np.float32) + 0.5
    cube[0, :3] = np.nan  # invalid background
    path = _envi(tmp_path, cube, src_axis)
    data, valid, _ = prepare_spot(path, target)
    expected = np.nan_to_num(np.array(data, np.float32), nan=0.0)
    expected[~valid] = 0.0
    c = read_cube(path, mmap=True)
    for v in (c.valid, None):  # given, or derived from the raw tile
        prep = ir_tile_preparer(c.wavenumbers, target, v)
        got = predict_tiled(c.data, lambda x: x, tile=6, overlap=2, margin=0,
                            window="constant", prepare=prep, progress=False)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(prep(c.data[2:9, 1:4], (2, 9, 1, 4)), expected[2:9, 1:4])


@pytest.mark.parametrize("n_src,descending", [(61, True), (200, False), (40, True), (25, False)])
def test_fast_resampler_equals_resample(rng, n_src, descending):
    """Bit-identical to irpath.spectra.axis.resample (via to_target_axis) on denser,
    sparser and equal axes, ascending or descending; the same axis passes through."""
    from irpath.spectra.axis import to_target_axis

    src = np.linspace(946.1, 1801.9, n_src)
    src = src[::-1] if descending else src
    target = np.linspace(1800.0, 948.0, 40)
    raw = rng.normal(size=(5, 7, n_src)).astype(np.float64)
    prep = ir_tile_preparer(src, target, np.ones((5, 7), bool), chunk=8)
    np.testing.assert_array_equal(prep(raw, (0, 5, 0, 7)), to_target_axis(raw, src, target))
    same = ir_tile_preparer(target, target)
    x = rng.normal(size=(5, 7, 40)).astype(np.float32)
    np.testing.assert_array_equal(same(x, (0, 5, 0, 7)), x)


def test_ir_preparer_refuses_an_axis_that_does_not_cover_the_target():
    with pytest.raises(ShapeError, match="does not cover"):
        ir_tile_preparer(np.linspace(1500.0, 948.0, 100), np.linspace(1800.0, 948.0, 40))

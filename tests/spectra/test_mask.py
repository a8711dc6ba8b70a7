import numpy as np
import pytest

from irpath.errors import InvalidValuesError
from irpath.spectra import DEFAULT_AXIS, check_spectra, tissue_mask


def spot(rng, h=12, w=10, c=450):
    """Tissue everywhere except a zero border; returns (cube, expected tissue)."""
    cube = np.zeros((h, w, c), np.float32)
    tissue = np.zeros((h, w), bool)
    tissue[2:-2, 3:-2] = True
    cube[tissue] = rng.uniform(0.5, 1.0, size=(tissue.sum(), c))
    return cube, tissue


def test_tissue_mask_finds_zero_background(rng):
    cube, expect = spot(rng)
    np.testing.assert_array_equal(tissue_mask(cube), expect)


def test_tissue_mask_drops_invalid_nan_and_faint_pixels(rng):
    cube, expect = spot(rng)
    cube[3, 4] = np.nan            # NaN spectrum
    cube[4, 4] *= 0.01             # far below 10 % of the tissue level
    valid = np.ones(cube.shape[:2], bool)
    valid[5, 5] = False            # reader flagged it
    expect = expect.copy()
    expect[3, 4] = expect[4, 4] = expect[5, 5] = False
    np.testing.assert_array_equal(tissue_mask(cube, valid), expect)
    # rel_threshold 0 keeps the faint pixel
    assert tissue_mask(cube, valid, rel_threshold=0.0)[4, 4]


def test_tissue_mask_uses_amide_band_with_axis(rng):
    cube, expect = spot(rng)
    amide = (DEFAULT_AXIS >= 1630) & (DEFAULT_AXIS <= 1680)
    cube[6, 6, amide] = 0.01       # no amide I: not tissue, though its mean is high
    assert tissue_mask(cube)[6, 6]
    got = tissue_mask(cube, axis=DEFAULT_AXIS)
    assert not got[6, 6]
    assert got.sum() == expect.sum() - 1


def test_check_spectra_accepts_whole_nan_background(rng):
    cube, _ = spot(rng)
    cube[0, 0] = np.nan
    check_spectra(cube, name="spot_1.npy")


def test_check_spectra_refuses_inf(rng):
    cube, _ = spot(rng)
    cube[3, 5, 7] = np.inf
    cube[4, 5, 0] = -np.inf
    msg = r"spot_2.npy: 2 pixel\(s\) contain \+/-Inf.*row 3, column 5"
    with pytest.raises(InvalidValuesError, match=msg):
        check_spectra(cube, name="spot_2.npy")


def test_check_spectra_refuses_partial_nan(rng):
    cube, _ = spot(rng)
    cube[1, 1, :5] = np.nan
    with pytest.raises(InvalidValuesError, match=r"spot_3.npy: 1 pixel\(s\) mix NaN"):
        check_spectra(cube, name="spot_3.npy")


def test_check_spectra_refuses_empty_spot():
    cube = np.zeros((4, 4, 10), np.float32)
    cube[0, 0] = np.nan
    with pytest.raises(InvalidValuesError, match="spot_4.npy: no tissue pixel"):
        check_spectra(cube, name="spot_4.npy")
    valid = np.zeros((4, 4), bool)
    with pytest.raises(InvalidValuesError, match="no tissue"):
        check_spectra(np.ones((4, 4, 10)), valid, name="spot_5.npy")


def test_spans_amide_band_is_the_whole_band():
    from irpath.spectra.mask import spans_amide_band

    assert spans_amide_band(DEFAULT_AXIS) and spans_amide_band(np.array([1700.0, 1600.0]))
    assert not spans_amide_band(np.linspace(1000.0, 1650.0, 20))  # holds part of it only
    assert not spans_amide_band(np.linspace(1640.0, 1800.0, 20))
    assert not spans_amide_band(None)

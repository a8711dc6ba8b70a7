"""The one wavenumber-axis check: what the readers store and what the spectral steps need."""

import numpy as np
import pytest

from irpath.errors import InvalidValuesError, ShapeError
from irpath.io.cube import make_cube
from irpath.io.axis import check_axis


def test_axis_is_float64_and_checked():
    out = check_axis([[1800, 1700, 948]], 3, "a.hdr")
    assert out.dtype == np.float64 and out.tolist() == [1800.0, 1700.0, 948.0]
    with pytest.raises(ShapeError, match=r"^a\.hdr: wavenumber axis has 2 values but the cube has 3"):
        check_axis([1, 2], 3, "a.hdr")
    with pytest.raises(InvalidValuesError, match=r"^a\.hdr: wavenumber axis is empty or holds NaN"):
        check_axis([1.0, np.nan, 3.0], name="a.hdr")
    with pytest.raises(InvalidValuesError, match=r"^wavenumber axis is empty"):
        check_axis([])
    with pytest.raises(ShapeError, match="not strictly increasing or decreasing"):
        check_axis([1.0, 3.0, 2.0])
    assert check_axis([1.0, 3.0, 2.0], monotonic=False).tolist() == [1.0, 3.0, 2.0]


def test_readers_store_an_unordered_axis_but_refuse_nan():
    data = np.ones((2, 2, 3), np.float32)
    assert make_cube("c.npy", data, wavenumbers=[1.0, 3.0, 2.0]).wavenumbers.tolist() == [1, 3, 2]
    assert make_cube("c.npy", data).wavenumbers is None
    with pytest.raises(InvalidValuesError, match=r"c\.npy: wavenumber axis"):
        make_cube("c.npy", data, wavenumbers=[1.0, np.inf, 2.0])
    with pytest.raises(ShapeError, match=r"c\.npy: wavenumber axis has 2"):
        make_cube("c.npy", data, wavenumbers=[1.0, 2.0])

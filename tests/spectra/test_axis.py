import numpy as np
import pytest

from irpath.errors import ShapeError
from irpath.spectra import DEFAULT_AXIS, crop, resample, to_target_axis


def linear_cube(axis, h=3, w=4, rng=None):
    """(h, w, C) cube whose pixel (i, j) spectrum is a_ij + b_ij * wavenumber."""
    rng = rng or np.random.default_rng(0)
    a = rng.normal(size=(h, w, 1))
    b = rng.normal(size=(h, w, 1)) * 1e-3
    return (a + b * np.asarray(axis)[None, None, :]).astype(np.float32), a, b


def test_default_axis_is_the_papers():
    assert DEFAULT_AXIS.shape == (450,)
    assert DEFAULT_AXIS[0] == 1800.0 and DEFAULT_AXIS[-1] == 948.0
    assert (np.diff(DEFAULT_AXIS) < 0).all()


@pytest.mark.parametrize("descending", [False, True])
def test_crop_keeps_inclusive_range_in_original_order(descending):
    axis = np.arange(1000.0, 1010.0)
    if descending:
        axis = axis[::-1]
    cube = np.broadcast_to(axis, (2, 2, 10)).copy()
    out, out_axis = crop(cube, axis, 1006.0, 1002.0)
    expect = np.arange(1002.0, 1007.0)
    np.testing.assert_array_equal(out_axis, expect[::-1] if descending else expect)
    np.testing.assert_array_equal(out[1, 1], out_axis)


def test_crop_outside_range_names_the_cube():
    axis = np.arange(1000.0, 1010.0)
    with pytest.raises(ShapeError, match="spot_7"):
        crop(np.zeros((1, 1, 10)), axis, 2000, 2100, name="spot_7")


@pytest.mark.parametrize("src_descending", [False, True])
def test_resample_linear_spectrum_is_exact(src_descending):
    src = np.linspace(900.0, 1850.0, 317)  # irregular w.r.t. the target grid
    if src_descending:
        src = src[::-1]
    cube, a, b = linear_cube(src)
    out = resample(cube, src, DEFAULT_AXIS)
    assert out.shape == (3, 4, 450) and out.dtype == np.float32
    np.testing.assert_allclose(out, a + b * DEFAULT_AXIS, rtol=1e-5, atol=1e-5)


def test_resample_hits_source_samples_exactly():
    src = np.array([1.0, 2.0, 4.0])
    cube = np.array([[[10.0, 20.0, 0.0]]], dtype=np.float32)
    out = resample(cube, src, [4.0, 3.0, 1.5, 1.0])
    np.testing.assert_allclose(out[0, 0], [0.0, 10.0, 15.0, 10.0])


def test_resample_refuses_uncovered_target():
    src = np.linspace(1000.0, 1800.0, 100)
    with pytest.raises(ShapeError, match="spot_1.*does not cover"):
        resample(np.zeros((1, 1, 100)), src, DEFAULT_AXIS, name="spot_1")


def test_resample_refuses_non_monotonic_axis():
    with pytest.raises(ShapeError, match="monotonic|increasing"):
        resample(np.zeros((1, 1, 3)), [1.0, 3.0, 2.0], [1.5])


def test_to_target_axis_without_axis_checks_channel_count():
    cube = np.zeros((2, 2, 450), np.float32)
    assert to_target_axis(cube, None) is cube
    with pytest.raises(ShapeError, match="spot_9: has 400 channels, model expects 450"):
        to_target_axis(np.zeros((2, 2, 400)), None, name="spot_9")


def test_to_target_axis_same_axis_is_unchanged():
    cube = np.ones((2, 2, 450), np.float32)
    assert to_target_axis(cube, DEFAULT_AXIS + 1e-9) is cube


def test_to_target_axis_reverses_an_ascending_copy_exactly(rng):
    cube = rng.normal(size=(2, 3, 450)).astype(np.float32)
    out = to_target_axis(cube[..., ::-1], DEFAULT_AXIS[::-1])
    np.testing.assert_array_equal(out, cube)


def test_to_target_axis_crops_and_resamples():
    src = np.arange(700.0, 4000.0, 2.0)  # wider range, different spacing, ascending
    cube, a, b = linear_cube(src, 2, 2)
    out = to_target_axis(cube, src)
    assert out.shape == (2, 2, 450)
    np.testing.assert_allclose(out, a + b * DEFAULT_AXIS, rtol=1e-5, atol=1e-5)


def test_to_target_axis_on_a_memmap(tmp_path):
    src = np.linspace(2000.0, 900.0, 500)
    cube, a, b = linear_cube(src, 5, 3)
    np.save(tmp_path / "c.npy", cube)
    mm = np.load(tmp_path / "c.npy", mmap_mode="r")
    out = to_target_axis(mm, src)
    np.testing.assert_allclose(out, a + b * DEFAULT_AXIS, rtol=1e-5, atol=1e-5)


def test_axis_a_channel_short_at_the_ends_is_accepted_and_held():
    # an instrument axis 1799 -> 949.5 for the model's 1800 -> 948 (spacing ~1.9)
    src = np.linspace(1799.0, 949.5, 300)
    cube = np.broadcast_to(src, (2, 3, 300)).astype(np.float32)    # value = wavenumber
    out = to_target_axis(cube, src, DEFAULT_AXIS, name="short.hdr")
    assert out.shape == (2, 3, 450)
    np.testing.assert_allclose(out[0, 0, 0], 1799.0)                # held, not extrapolated
    np.testing.assert_allclose(out[0, 0, -1], 949.5)
    np.testing.assert_allclose(out[0, 0, 1:-1], DEFAULT_AXIS[1:-1], atol=1e-2)


def test_axis_far_short_of_the_target_is_refused():
    src = np.linspace(1780.0, 960.0, 300)                           # ~10 channels short
    with pytest.raises(ShapeError, match="far.hdr.*does not cover"):
        to_target_axis(np.ones((1, 1, 300), np.float32), src, DEFAULT_AXIS, name="far.hdr")

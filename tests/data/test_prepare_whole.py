"""The whole-image IR input: prepare_spot_array equals prepare_spot followed by the zeroing,
for each ENVI interleave off the model's axis, with NaN background and a tissue file."""

import numpy as np
import pytest

from irpath.data.cache import prepare_spot, prepare_spot_array
from irpath.spectra import DEFAULT_AXIS

from ..io.test_sources import write_envi


def _cube(rng):
    cube = rng.random((12, 9, 40)).astype(np.float32) + 0.5
    cube[:3, :4] = 0.0  # background
    cube[5, 2] = np.nan  # an invalid pixel
    return cube


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_equals_prepare_spot_then_zeroing(tmp_path, interleave):
    rng = np.random.default_rng(3)
    hdr = write_envi(tmp_path, _cube(rng), interleave)  # axis 1000 -> 1800 cm^-1, 40 channels
    target = np.linspace(1790, 1010, 31)
    data, valid, tissue = prepare_spot_array(hdr, target)
    ref, ref_valid, ref_tissue = prepare_spot(hdr, target)
    ref = np.nan_to_num(np.array(ref, np.float32), nan=0.0)
    ref[~ref_valid] = 0.0
    assert data.dtype == np.float32 and data.shape == (12, 9, 31)
    np.testing.assert_array_equal(data, ref)
    np.testing.assert_array_equal(valid, ref_valid)
    np.testing.assert_array_equal(tissue, ref_tissue)
    assert not valid[5, 2] and not tissue[:3, :4].any() and tissue[6:].all()


def test_tissue_file_on_valid_pixels(tmp_path):
    from PIL import Image

    hdr = write_envi(tmp_path, _cube(np.random.default_rng(4)), "bsq")
    mask = np.zeros((12, 9), np.uint8)
    mask[4:7, 1:4] = 255
    Image.fromarray(mask).save(tmp_path / "t.png")
    _, valid, tissue = prepare_spot_array(hdr, DEFAULT_AXIS[(DEFAULT_AXIS >= 1010) & (DEFAULT_AXIS <= 1790)],
                                          tmp_path / "t.png")
    assert tissue.sum() == 9 - 1 and not tissue[5, 2]  # the NaN pixel is not tissue


def test_whole_input_is_aligned_for_tensorflow(tmp_path):
    hdr = write_envi(tmp_path, _cube(np.random.default_rng(5)), "bip")
    data, _, _ = prepare_spot_array(hdr, np.linspace(1790, 1010, 31))
    assert data.ctypes.data % 64 == 0 and data.flags.c_contiguous and data.flags.writeable

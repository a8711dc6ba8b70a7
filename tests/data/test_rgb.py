"""RGB preparation: float scaling, background masks, CIE Lab and Reinhard normalisation."""

import numpy as np
import pytest
from scipy import ndimage

from irpath.data.rgb import (ReinhardStats, background_mask, lab_to_rgb, reinhard_normalise,
                             reinhard_stats, rgb_to_lab, to_float)
from irpath.errors import ConfigError, InvalidValuesError, MissingFileError, ShapeError


def test_to_float_scales_each_dtype_and_expands_grey():
    u8 = np.array([[[0, 128, 255]]], np.uint8)
    np.testing.assert_allclose(to_float(u8), [[[0, 128 / 255, 1]]], rtol=1e-6)
    u16 = np.array([[[0, 65535, 32768]]], np.uint16)
    np.testing.assert_allclose(to_float(u16), [[[0, 1, 32768 / 65535]]], rtol=1e-6)
    f = np.array([[[0.0, 51.0, 300.0]]], np.float32)  # read_rgb's [0, 255]; 300 clips
    np.testing.assert_allclose(to_float(f), [[[0, 0.2, 1]]], rtol=1e-6)
    grey = np.array([[0, 255], [51, 102]], np.uint8)
    for g in (grey, grey[..., None]):
        out = to_float(g)
        assert out.shape == (2, 2, 3) and out.dtype == np.float32
        np.testing.assert_allclose(out[..., 1], grey / 255, rtol=1e-6)
        np.testing.assert_array_equal(out[..., 0], out[..., 2])
    with pytest.raises(ShapeError):
        to_float(np.zeros((2, 2, 4)))
    with pytest.raises(InvalidValuesError):
        to_float(np.full((2, 2, 3), np.nan))


@pytest.mark.parametrize("rgb, lab", [
    ((1, 1, 1), (100, 0, 0)),
    ((0, 0, 0), (0, 0, 0)),
    ((1, 0, 0), (53.2408, 80.0925, 67.2032)),
    ((0, 1, 0), (87.7347, -86.1827, 83.1793)),
    ((0, 0, 1), (32.2970, 79.1875, -107.8602)),
    ((0.5, 0.5, 0.5), (53.3890, 0, 0)),
])
def test_known_lab_values(rgb, lab):
    np.testing.assert_allclose(rgb_to_lab(np.array(rgb, float)), lab, atol=2e-3)


def test_lab_round_trip():
    rgb = np.random.default_rng(0).uniform(0, 1, (9, 11, 3))
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-9)


def he_tile(rng, size=48):
    """White glass with a pink (eosin) disc and a purple (haematoxylin) blob, plus noise."""
    img = np.ones((size, size, 3)) * np.array([0.95, 0.95, 0.96])
    yy, xx = np.mgrid[:size, :size]
    pink = (yy - 16) ** 2 + (xx - 16) ** 2 < 100
    purple = (abs(yy - 34) < 8) & (abs(xx - 32) < 10)
    img[pink] = (0.92, 0.55, 0.72)
    img[purple] = (0.45, 0.25, 0.58)
    img += rng.normal(0, 0.015, img.shape)
    return np.clip(img, 0, 1), pink | purple


def test_background_mask_recovers_tissue(rng):
    img, tissue = he_tile(rng)
    img[16, 16] = 1.0  # a bright speck inside tissue: cleaned away
    img[2, 40] = (0.5, 0.3, 0.6)  # a dark speck on glass: cleaned away
    background = background_mask(img, min_size=16)
    wrong = ~background != tissue
    assert wrong.sum() <= 3  # the 3x3 opening may take a glass pixel in a concave corner
    assert (~background)[tissue].all()
    assert not (wrong & ~ndimage.binary_dilation(tissue)).any()  # only next to tissue
    raw = background_mask(img, min_size=0)  # opening only
    assert not raw[16, 16]  # the opening removes the single bright pixel
    assert not raw[2, 40] and background[2, 40]  # the speck goes with min_size only


def test_background_mask_fills_small_holes_and_validates(rng):
    img, tissue = he_tile(rng)
    img[33:36, 30:33] = 0.97  # a 3x3 lumen inside the purple blob: tissue
    assert not background_mask(img, min_size=16)[33:36, 30:33].any()
    assert background_mask(img, min_size=0)[34, 31]  # without cleaning it is glass
    with pytest.raises(ConfigError):
        background_mask(img, brightness=1.5)


def lab_image(rng, mean, std, shape=(40, 40)):
    """An in-gamut sRGB image with roughly the given Lab statistics."""
    lab = rng.normal(mean, std, shape + (3,))
    return np.clip(lab_to_rgb(lab), 0, 1)


def test_reinhard_matches_target_statistics(rng):
    a = lab_image(rng, (60, 30, -10), (6, 5, 4))
    b = lab_image(rng, (70, 15, 5), (9, 7, 5))
    mean_b, std_b = reinhard_stats(b)
    out = reinhard_normalise(a, mean_b, std_b)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    mean_o, std_o = reinhard_stats(out)
    np.testing.assert_allclose(mean_o, mean_b, atol=0.3)
    np.testing.assert_allclose(std_o, std_b, rtol=0.03)
    mean_a, _ = reinhard_stats(a)
    assert np.abs(mean_a - mean_b).max() > 10  # the test is not trivially satisfied


def test_reinhard_statistics_over_a_mask_and_identity(rng):
    img, tissue = he_tile(rng)
    mean, std = reinhard_stats(img, tissue)
    pixels = rgb_to_lab(img[tissue])
    np.testing.assert_allclose(mean, pixels.mean(0))
    np.testing.assert_allclose(std, pixels.std(0))
    same = reinhard_normalise(img, mean, std, mask=tissue)
    np.testing.assert_allclose(same, img, atol=1e-5)
    with pytest.raises(ShapeError):
        reinhard_stats(img, tissue[:5])
    with pytest.raises(InvalidValuesError):
        reinhard_stats(img, np.zeros_like(tissue))


def test_reinhard_stats_json_round_trip(tmp_path, rng):
    img, tissue = he_tile(rng)
    stats = ReinhardStats.from_image(img, tissue)
    stats.to_json(tmp_path / "stain.json")
    back = ReinhardStats.from_json(tmp_path / "stain.json")
    assert back == stats
    np.testing.assert_array_equal(back.normalise(img, tissue),
                                  reinhard_normalise(img, stats.mean, stats.std, tissue))
    with pytest.raises(ConfigError):
        ReinhardStats((50, 0, 0), (1, 0, 1))
    with pytest.raises(MissingFileError):
        ReinhardStats.from_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="bad.json"):
        ReinhardStats.from_json(tmp_path / "bad.json")

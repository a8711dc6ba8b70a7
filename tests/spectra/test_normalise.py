import numpy as np
import pytest

from irpath.errors import InvalidValuesError, ShapeError
from irpath.spectra import channel_stats, standardise, vector_normalise


def test_vector_normalise_gives_unit_norm_and_keeps_zero_pixels(rng):
    cube = rng.normal(size=(8, 8, 30)).astype(np.float32)
    cube[0, 0] = 0.0
    out = vector_normalise(cube)
    norms = np.linalg.norm(out, axis=-1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(norms[1:], 1.0, rtol=1e-5)
    assert (out[0, 0] == 0).all() and not np.isnan(out).any()
    # direction unchanged
    np.testing.assert_allclose(out[3, 4] * np.linalg.norm(cube[3, 4]), cube[3, 4], rtol=1e-5)


def test_vector_normalise_zeroes_background(rng):
    cube = rng.normal(size=(4, 4, 5))
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    out = vector_normalise(cube, mask)
    assert (out[~mask] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(out[mask], axis=-1), 1.0, rtol=1e-5)


def test_channel_stats_equal_numpy_over_concatenated_tissue(rng):
    cubes = [1000.0 + rng.normal(size=(h, w, 7)) for h, w in [(8, 8), (12, 10), (5, 3)]]
    masks = [rng.random(c.shape[:2]) > 0.4 for c in cubes]
    masks[2] = None  # all pixels
    mean, std = channel_stats(zip(cubes, masks))
    px = np.concatenate([c[m] if m is not None else c.reshape(-1, 7)
                         for c, m in zip(cubes, masks)])
    np.testing.assert_allclose(mean, px.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, px.std(axis=0), rtol=1e-9)


def test_channel_stats_streams_memmaps_in_blocks(rng, tmp_path, monkeypatch):
    import irpath.io.cube as cube_mod
    monkeypatch.setattr(cube_mod, "_BLOCK_BYTES", 100)  # force many row blocks
    cube = rng.normal(size=(9, 4, 6)).astype(np.float32)
    np.save(tmp_path / "c.npy", cube)
    mm = np.load(tmp_path / "c.npy", mmap_mode="r")
    mask = rng.random((9, 4)) > 0.3
    mean, std = channel_stats([(mm, mask)])
    np.testing.assert_allclose(mean, cube[mask].astype(np.float64).mean(0), rtol=1e-10)
    np.testing.assert_allclose(std, cube[mask].astype(np.float64).std(0), rtol=1e-8)


def test_channel_stats_errors():
    with pytest.raises(InvalidValuesError):
        channel_stats([(np.zeros((2, 2, 3)), np.zeros((2, 2), bool))])
    with pytest.raises(ShapeError):
        channel_stats([(np.zeros((2, 2, 3)), None), (np.zeros((2, 2, 4)), None)])


def test_standardise_gives_mean_0_std_1_on_tissue(rng):
    cube = rng.normal(loc=5.0, scale=3.0, size=(12, 10, 9))
    cube[..., 4] = 2.0  # a flat channel: std floored, no division by zero
    mask = rng.random((12, 10)) > 0.3
    mean, std = channel_stats([(cube, mask)])
    out = standardise(cube, mean, std, mask)
    assert out.dtype == np.float32
    assert (out[~mask] == 0).all()
    t = out[mask].astype(np.float64)
    np.testing.assert_allclose(t.mean(0), 0.0, atol=1e-5)
    keep = np.arange(9) != 4
    np.testing.assert_allclose(t.std(0)[keep], 1.0, rtol=1e-5)
    assert np.isfinite(out).all() and np.abs(t[:, 4]).max() < 1e-3

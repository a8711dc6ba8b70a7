import os

import numpy as np
import pytest

from irpath.data import CacheIndex, build_cache
from irpath.errors import InvalidValuesError, ShapeError
from irpath.io import read_manifest
from irpath.spectra import DEFAULT_AXIS

from .conftest import AXIS, write_spots


def test_round_trip_matches_sources(spots):
    index, arrays = spots
    assert len(index) == 6
    assert index.labels == (1, 0, 1, 0, 1, 1)
    assert index.has_masks
    np.testing.assert_array_equal(index.axis, AXIS)
    for i, src in enumerate(arrays):
        cube, tissue, mask = index.load(i)
        assert cube.dtype == np.float32 and cube.shape == src["cube"].shape
        np.testing.assert_array_equal(cube, src["cube"])
        np.testing.assert_array_equal(tissue, src["tissue"])
        if src["mask"] is None:
            assert mask is None and not index.entries[i].has_mask
        else:
            np.testing.assert_array_equal(mask, src["mask"])
        # raw bytes are little-endian float32, as tf.io.decode_raw reads them
        raw = np.fromfile(index.file(index.entries[i].cube_file), dtype="<f4")
        assert raw.size == cube.size


def test_open_reads_the_same_index(spots):
    index, _ = spots
    again = CacheIndex.open(index.cache_dir)
    assert again.entries == index.entries and again.fingerprint == index.fingerprint


def test_unchanged_fingerprint_reuses_cache(spots, capsys):
    index, _ = spots
    cube_file = index.cache_dir / index.entries[0].cube_file
    before = cube_file.stat().st_mtime_ns
    manifest = read_manifest(os.path.join(os.path.dirname(index.entries[0].image),
                                          "manifest.csv"))
    again = build_cache(manifest, index.cache_dir, target_axis=AXIS)
    assert "up to date" in capsys.readouterr().err
    assert cube_file.stat().st_mtime_ns == before
    assert again.fingerprint == index.fingerprint


def test_changed_source_rebuilds(spots, capsys):
    index, arrays = spots
    src = index.entries[2].image
    new = arrays[2]["cube"] * 2.0
    np.save(src, new)
    os.utime(src, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    manifest = read_manifest(os.path.join(os.path.dirname(src), "manifest.csv"))
    again = build_cache(manifest, index.cache_dir, target_axis=AXIS)
    err = capsys.readouterr().err
    assert "caching 1/6 spot_000.npy" in err and "caching 6/6" in err
    assert again.fingerprint != index.fingerprint
    np.testing.assert_array_equal(again.load(2)[0], new)


def test_changed_axis_rebuilds(tmp_path, rng):
    path, _ = write_spots(tmp_path / "src", [(8, 8)] * 2, [1, 0], rng=rng)
    a = build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)
    with pytest.raises(ShapeError, match="spot_000.npy: has 20 channels, model expects 450"):
        build_cache(read_manifest(path), tmp_path / "c", target_axis=DEFAULT_AXIS,
                    progress=False)
    assert not (tmp_path / "c" / "index.json").exists()  # never a stale valid index
    b = build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS[::-1].copy(),
                    progress=False)
    assert a.fingerprint != b.fingerprint


def test_resamples_npz_with_axis_and_zeroes_nan_background(tmp_path, rng):
    src_axis = np.linspace(2000.0, 900.0, 60)
    cube = np.zeros((6, 5, 60), np.float32)
    cube[1:5, 1:4] = 1.0 + 1e-3 * src_axis
    cube[0, 0] = np.nan  # whole-NaN background pixel
    np.savez(tmp_path / "s.npz", cube=cube, wavenumbers=src_axis)
    (tmp_path / "m.csv").write_text("image,label\ns.npz,0\n")
    index = build_cache(read_manifest(tmp_path / "m.csv"), tmp_path / "c", target_axis=AXIS,
                        progress=False)
    got, tissue, mask = index.load(0)
    assert got.shape == (6, 5, 20) and mask is None and not index.has_masks
    np.testing.assert_allclose(got[2, 2], 1.0 + 1e-3 * AXIS, rtol=1e-5)
    assert (got[0, 0] == 0).all() and not tissue[0, 0]
    assert tissue.sum() == 12


def test_tissue_file_is_used(tmp_path, rng):
    path, arrays = write_spots(tmp_path / "src", [(8, 8)] * 2, [1, 0], rng=rng,
                               tissue_files=True)
    own = np.zeros((8, 8), bool)
    own[2:4, 2:4] = True
    np.save(tmp_path / "src" / "spot_001_tissue.npy", own)
    index = build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)
    np.testing.assert_array_equal(index.load(1)[1], own)
    np.testing.assert_array_equal(index.load(0)[1], arrays[0]["tissue"])


def test_bad_spectra_name_the_file(tmp_path, rng):
    path, arrays = write_spots(tmp_path / "src", [(8, 8)] * 2, [1, 0], rng=rng)
    cube = arrays[1]["cube"]
    cube[3, 3, 2] = np.inf
    np.save(tmp_path / "src" / "spot_001.npy", cube)
    with pytest.raises(InvalidValuesError, match="spot_001.npy: 1 pixel"):
        build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)


def test_mask_of_wrong_size_is_refused(tmp_path, rng):
    path, _ = write_spots(tmp_path / "src", [(8, 8)] * 2, [1, 0], rng=rng)
    np.save(tmp_path / "src" / "spot_000_mask.npy", np.zeros((8, 9), np.uint8))
    with pytest.raises(ShapeError, match="spot_000_mask.npy: mask is 8x9"):
        build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)

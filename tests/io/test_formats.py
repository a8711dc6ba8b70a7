"""HDF5, numpy, MATLAB and RGB readers round-trip through ``read_cube``."""

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from irpath.errors import DatasetNotFoundError
from irpath.io import read_cube

AXIS = np.array([950.0, 1200.0, 1650.0])


@pytest.fixture
def arr(rng):
    return rng.normal(size=(4, 5, 3)).astype(np.float32)


def test_hdf5_named_dataset_with_axis_attribute(tmp_path, arr):
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f["cube"] = arr
        f["cube"].attrs["wavenumbers"] = AXIS
        f["other"] = np.zeros((2, 2, 2))
    cube = read_cube(path)
    np.testing.assert_array_equal(cube.data, arr)
    np.testing.assert_array_equal(cube.wavenumbers, AXIS)


def test_hdf5_only_3d_dataset_and_axis_dataset(tmp_path, arr):
    path = tmp_path / "scan.hdf5"
    with h5py.File(path, "w") as f:
        f["meas/absorbance"] = arr
        f["wn"] = AXIS
        f["meta"] = np.arange(4)
    cube = read_cube(path)
    np.testing.assert_array_equal(cube.data, arr)
    np.testing.assert_array_equal(cube.wavenumbers, AXIS)


def test_hdf5_explicit_names_and_listing_on_error(tmp_path, arr):
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f["a"] = arr
        f["b"] = arr * 2
        f["axis_cm"] = AXIS
    cube = read_cube(path, dataset="b", axis_key="axis_cm")
    np.testing.assert_array_equal(cube.data, arr * 2)
    np.testing.assert_array_equal(cube.wavenumbers, AXIS)
    with pytest.raises(DatasetNotFoundError, match=r"a \(4, 5, 3\).*b \(4, 5, 3\)"):
        read_cube(path)
    with pytest.raises(DatasetNotFoundError, match="nope"):
        read_cube(path, dataset="b", axis_key="nope")


def test_hdf5_mmap_contiguous_and_chunked(tmp_path, arr):
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f["cube"] = arr.astype(">i4")
        f.create_dataset("data", data=arr, chunks=(2, 5, 3), compression="gzip")
    mapped = read_cube(path, mmap=True)
    assert isinstance(mapped.data, np.memmap)
    np.testing.assert_array_equal(mapped.data, arr.astype(">i4"))
    chunked = read_cube(path, mmap=True, dataset="data")
    assert not isinstance(chunked.data, np.memmap)
    np.testing.assert_array_equal(chunked.data, arr)


def test_npy_and_npz(tmp_path, arr):
    np.save(tmp_path / "c.npy", arr)
    np.testing.assert_array_equal(read_cube(tmp_path / "c.npy").data, arr)
    assert isinstance(read_cube(tmp_path / "c.npy", mmap=True).data, np.memmap)
    np.savez(tmp_path / "c.npz", cube=arr, wn=AXIS)
    cube = read_cube(tmp_path / "c.npz")
    np.testing.assert_array_equal(cube.data, arr)
    np.testing.assert_array_equal(cube.wavenumbers, AXIS)


def test_mat_v5(tmp_path, arr):
    path = tmp_path / "spot.mat"
    scipy.io.savemat(path, {"label": np.array([[1.0]]), "absorb": arr,
                            "wavenumbers": AXIS[None, :]})
    cube = read_cube(path)
    np.testing.assert_array_equal(cube.data, arr)
    np.testing.assert_array_equal(cube.wavenumbers, AXIS)


def _write_v73(path, variables):
    """An HDF5 file laid out like MATLAB -v7.3: 512-byte header block, column-major arrays."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            f[name] = np.asarray(value).T
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as f:
        f.write(header)


def test_mat_v73_is_transposed_back(tmp_path, arr):
    path = tmp_path / "spot73.mat"
    _write_v73(path, {"cube": arr, "wavenumbers": AXIS[None, :]})
    with pytest.raises(NotImplementedError):  # so the v7.3 branch is really taken
        scipy.io.loadmat(path)
    cube = read_cube(path)
    np.testing.assert_array_equal(cube.data, arr)
    np.testing.assert_array_equal(cube.wavenumbers, AXIS)


@pytest.mark.parametrize("mode, suffix", [("RGB", ".png"), ("RGB", ".tif"), ("L", ".png"),
                                          ("RGBA", ".png"), ("P", ".png")])
def test_rgb_tiles(tmp_path, rng, mode, suffix):
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    expected = rgb
    if mode == "L":
        image = image.convert("L")
        expected = np.repeat(np.asarray(image)[..., None], 3, axis=-1)
    elif mode == "RGBA":
        image = image.convert("RGBA")
    elif mode == "P":
        image = image.convert("P")
        expected = np.asarray(image.convert("RGB"))
    image.save(tmp_path / f"tile{suffix}")
    cube = read_cube(tmp_path / f"tile{suffix}")
    assert cube.shape == (6, 7, 3) and cube.data.dtype == np.float32 and cube.wavenumbers is None
    np.testing.assert_array_equal(cube.data, expected.astype(np.float32))


def test_rgb_sixteen_bit_gray_is_scaled(tmp_path):
    gray = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_allclose(read_cube(tmp_path / "g.png").data[0, :, 1], [0, 100, 255])

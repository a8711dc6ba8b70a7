"""ENVI reading: every interleave, byte order and dtype, offsets, ignore values, mmap."""

import numpy as np
import pytest
import spectral.io.envi as envi

from irpath.io import read_cube
from irpath.io.envi import parse_header, read_envi

AXIS = [1000.0, 1250.5, 1500.0, 1800.25]


def _cube(dtype, rng):
    """A (3, 5, 4) cube using the dtype's range, so byte swaps would show."""
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        return rng.normal(0, 1e3, (3, 5, 4)).astype(dtype)
    return rng.integers(max(info.min, -2**20), min(info.max, 2**20), (3, 5, 4)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64, np.uint16])
@pytest.mark.parametrize("byteorder", [0, 1])
@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_round_trip(tmp_path, rng, interleave, byteorder, dtype):
    arr = _cube(dtype, rng)
    hdr = tmp_path / "spot.hdr"
    envi.save_image(str(hdr), arr, dtype=dtype, interleave=interleave, byteorder=byteorder,
                    metadata={"wavelength": AXIS})
    header = parse_header(hdr)
    assert (header["interleave"], header["byte order"]) == (interleave, str(byteorder))

    cube = read_envi(hdr)
    assert cube.data.dtype == np.float32 and cube.shape == (3, 5, 4)
    np.testing.assert_array_equal(cube.data, arr.astype(np.float32))
    np.testing.assert_array_equal(cube.wavenumbers, AXIS)
    assert cube.valid.all()

    mapped = read_envi(hdr, mmap=True)
    assert isinstance(mapped.data, np.memmap) and not mapped.data.flags.writeable
    assert mapped.data.dtype.newbyteorder("=") == np.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(mapped.data, np.float32), cube.data)


def _write_raw(folder, arr_hwc, header_lines, *, offset=0, order=">", layout=(0, 1, 2)):
    """Write ``x.hdr`` + ``x.raw`` by hand: ``offset`` junk bytes, then ``layout``-ordered values."""
    body = np.ascontiguousarray(arr_hwc.transpose(layout)).astype(order + "f4").tobytes()
    (folder / "x.raw").write_bytes(b"\x7f" * offset + body)
    (folder / "x.hdr").write_text("ENVI\n" + "\n".join(header_lines) + "\n")
    return folder / "x.hdr"


def test_header_offset_big_endian_bil(tmp_path, rng):
    arr = rng.normal(size=(3, 5, 4)).astype(np.float32)
    hdr = _write_raw(tmp_path, arr, [
        "samples = 5", "lines = 3", "bands = 4", "header offset = 37", "data type = 4",
        "interleave = bil", "byte order = 1"], offset=37, layout=(0, 2, 1))
    np.testing.assert_array_equal(read_envi(hdr).data, arr)
    np.testing.assert_array_equal(np.asarray(read_envi(hdr, mmap=True).data), arr)
    assert read_envi(hdr).wavenumbers is None


def test_mixed_case_keys_and_interleave(tmp_path, rng):
    """spectral itself would read 'BiL' as BSQ; irpath normalises the spelling."""
    arr = rng.normal(size=(3, 5, 4)).astype(np.float32)
    hdr = _write_raw(tmp_path, arr, [
        "Samples = 5", "LINES = 3", "Bands = 4", "Data Type = 4", "Interleave = BiL",
        "Byte Order = 1", "; a comment = ignored", "description = {multi-line,",
        "  text = with equals}", "Wavelength = {", " 1000, 1100,", " 1200, 1300}"],
        layout=(0, 2, 1))
    cube = read_envi(hdr)
    np.testing.assert_array_equal(cube.data, arr)
    np.testing.assert_array_equal(cube.wavenumbers, [1000, 1100, 1200, 1300])
    assert parse_header(hdr)["description"] == "multi-line,\ntext = with equals"


def test_data_ignore_value_marks_invalid_pixels(tmp_path, rng):
    arr = rng.uniform(0.1, 1.0, (3, 5, 4)).astype(np.float32)
    arr[0, 1] = -9999.0
    arr[2, 4] = -9999.0
    arr[1, 1, 0] = -9999.0  # one channel only: still a valid pixel
    hdr = _write_raw(tmp_path, arr, [
        "samples = 5", "lines = 3", "bands = 4", "data type = 4", "interleave = bip",
        "byte order = 1", "data ignore value = -9999"])
    expected = np.ones((3, 5), bool)
    expected[0, 1] = expected[2, 4] = False
    for mmap in (False, True):
        np.testing.assert_array_equal(read_envi(hdr, mmap=mmap).valid, expected)


@pytest.mark.parametrize("units, values, expected", [
    ("Nanometers", "{5000, 10000}", [2000.0, 1000.0]),  # band order kept: now descending
    ("micrometers", "{5, 10}", [2000.0, 1000.0]),
    ("cm-1", "{1000, 2000}", [1000.0, 2000.0]),
    ("Wavenumber", "{1000, 2000}", [1000.0, 2000.0]),
    ("Wavenumber (cm^-1)", "{1000, 2000}", [1000.0, 2000.0]),
    ("cm⁻¹", "{1000, 2000}", [1000.0, 2000.0]),
    ("1/cm", "{1000, 2000}", [1000.0, 2000.0]),
    ("Millimeters", "{0.005, 0.01}", [2000.0, 1000.0]),
])
def test_wavelength_units_become_wavenumbers(tmp_path, units, values, expected):
    hdr = _write_raw(tmp_path, np.ones((1, 2, 2), np.float32), [
        "samples = 2", "lines = 1", "bands = 2", "data type = 4", "interleave = bsq",
        "byte order = 1", f"wavelength = {values}", f"wavelength units = {units}"])
    np.testing.assert_allclose(read_envi(hdr).wavenumbers, expected)


def test_data_file_key_and_dispatch_from_data_file(tmp_path, rng):
    arr = rng.normal(size=(2, 3, 2)).astype(np.float32)
    hdr = _write_raw(tmp_path, arr, [
        "samples = 3", "lines = 2", "bands = 2", "data type = 4", "interleave = bip",
        "byte order = 1", "data file = x.raw"])
    (tmp_path / "x.raw").rename(tmp_path / "elsewhere.bin")
    hdr.write_text(hdr.read_text().replace("x.raw", "elsewhere.bin"))
    np.testing.assert_array_equal(read_envi(hdr).data, arr)

    envi.save_image(str(tmp_path / "y.hdr"), arr, interleave="bsq", ext=".dat")
    np.testing.assert_array_equal(read_cube(tmp_path / "y.dat").data, arr)


def test_unknown_wavelength_units_are_refused(tmp_path):
    from irpath.errors import HeaderError

    hdr = _write_raw(tmp_path, np.ones((1, 2, 2), np.float32), [
        "samples = 2", "lines = 1", "bands = 2", "data type = 4", "interleave = bsq",
        "byte order = 1", "wavelength = {1, 2}", "wavelength units = GHz"])
    with pytest.raises(HeaderError, match=r"x\.hdr: unsupported wavelength units .ghz"):
        read_envi(hdr)

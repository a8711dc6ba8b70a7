"""Agilent images and mosaics: test-written data files behind the headers shipped by
``agilent_format``; orientation and axis checked by hand, malformed files refused."""

import shutil
import struct
from pathlib import Path

import agilent_format
import numpy as np
import pytest

from irpath.cli.main import main
from irpath.errors import DataFileError, HeaderError, MissingFileError
from irpath.io import read_cube

SHIPPED = Path(agilent_format.__file__).parent / "datasets"
F, NPTS = 4, 9  # the shipped headers declare 9 points; our tiles are 4 x 4


def _axis_by_hand(header):
    raw = Path(header).read_bytes()
    step, start, n = (struct.unpack_from("<d", raw, 2216)[0], struct.unpack_from("<i", raw, 2228)[0],
                      struct.unpack_from("<i", raw, 2236)[0])
    return np.array([step * (start + i) for i in range(n)])


def _write_tile(path, raw):
    """raw: (NPTS, F, F) float32 values as the instrument stores them, after 255 preamble floats."""
    np.concatenate([np.zeros(255, "<f4"), raw.astype("<f4").ravel()]).tofile(path)


def _expected(raw):
    """Image coordinates: pixel (r, c) holds raw[:, F - 1 - r, c] (each tile flipped upside down)."""
    return np.transpose(raw, (1, 2, 0))[::-1]


@pytest.fixture
def image(tmp_path, rng):
    shutil.copy(SHIPPED / "4_noimage_agg256.bsp", tmp_path / "spot.bsp")
    raw = rng.normal(size=(NPTS, F, F)).astype(np.float32)
    _write_tile(tmp_path / "spot.dat", raw)
    (tmp_path / "spot.seq").write_bytes(b"\0" * 64)  # interferograms: not read
    return tmp_path, raw


@pytest.fixture
def mosaic(tmp_path, rng):
    shutil.copy(SHIPPED / "5_mosaic_agg1024.dmt", tmp_path / "scan.dmt")
    raws = {}
    for x in range(3):
        for y in range(2):
            raws[x, y] = rng.normal(size=(NPTS, F, F)).astype(np.float32)
            _write_tile(tmp_path / f"Scan_{x:04d}_{y:04d}.dmd", raws[x, y])
    (tmp_path / "scan.dms").write_bytes(b"\0" * 64)
    return tmp_path, raws


def _mosaic_by_hand(raws, nx=3, ny=2):
    out = np.full((ny * F, nx * F, NPTS), np.nan, np.float32)
    for (x, y), raw in raws.items():
        out[y * F:(y + 1) * F, x * F:(x + 1) * F] = _expected(raw)
    return out


def test_image_from_seq_and_dat(image):
    folder, raw = image
    axis = _axis_by_hand(folder / "spot.bsp")
    for name in ("spot.seq", "spot.dat"):
        cube = read_cube(folder / name)
        assert cube.shape == (F, F, NPTS)
        np.testing.assert_array_equal(cube.data, _expected(raw))
        np.testing.assert_allclose(cube.wavenumbers, axis)
        assert 1990 < cube.wavenumbers[0] < cube.wavenumbers[-1] < 2114


def test_mosaic_from_dmt_dms_and_tile_eager_and_lazy(mosaic):
    folder, raws = mosaic
    want = _mosaic_by_hand(raws)
    for name in ("scan.dmt", "scan.dms", "Scan_0002_0001.dmd"):
        cube = read_cube(folder / name)
        np.testing.assert_array_equal(cube.data, want)
        lazy = read_cube(folder / name, mmap=True)
        assert lazy.shape == want.shape and lazy.valid.all()
        np.testing.assert_array_equal(lazy.data[3:6], want[3:6])  # crosses a tile row
        np.testing.assert_array_equal(np.asarray(lazy.data), want)
    np.testing.assert_allclose(cube.wavenumbers, _axis_by_hand(folder / "scan.dmt"))


def test_partial_mosaic_missing_tile_is_invalid(mosaic):
    folder, raws = mosaic
    (folder / "Scan_0001_0001.dmd").unlink()
    del raws[1, 1]
    cube = read_cube(folder / "scan.dmt")
    want_valid = np.ones((2 * F, 3 * F), bool)
    want_valid[F:, F:2 * F] = False
    np.testing.assert_array_equal(cube.valid, want_valid)
    np.testing.assert_array_equal(cube.data[cube.valid], _mosaic_by_hand(raws)[want_valid])


def test_shipped_mosaic_matches_agilent_format(tmp_path):
    cube = read_cube(SHIPPED / "5_mosaic_agg1024.dmt")
    assert cube.shape == (8, 4, 9)
    assert cube.data[7, 1, 1] == pytest.approx(1.14792180)  # agilent_format's own MAT=True check
    assert cube.data[6, 2, 3] == pytest.approx(0.28298783)


def test_truncated_data_file(image, mosaic):
    folder, _ = image
    dat = folder / "spot.dat"
    dat.write_bytes(dat.read_bytes()[:-4])
    with pytest.raises(DataFileError, match=r"spot\.dat: .*truncated"):
        read_cube(folder / "spot.seq")
    folder, _ = mosaic
    tile = folder / "Scan_0001_0000.dmd"
    tile.write_bytes(tile.read_bytes()[:-40])
    with pytest.raises(DataFileError, match=r"Scan_0001_0000\.dmd"):
        read_cube(folder / "scan.dmt")


def test_tile_of_another_size(mosaic):
    folder, _ = mosaic
    _write_tile(folder / "Scan_0001_0000.dmd", np.zeros((NPTS, 2 * F, 2 * F)))
    with pytest.raises(DataFileError, match="tile size differs"):
        read_cube(folder / "scan.dmt")


def _patch(header, offset, fmt, value):
    raw = bytearray(header.read_bytes())
    struct.pack_into(fmt, raw, offset, value)
    header.write_bytes(bytes(raw))


@pytest.mark.parametrize("offset,fmt,value,message", [
    (2236, "<i", 0, "number of points is 0"),
    (2216, "<d", -15.4, "point spacing"),
    (2216, "<d", float("nan"), "point spacing"),
])
def test_malformed_axis_fields(image, offset, fmt, value, message):
    folder, _ = image
    _patch(folder / "spot.bsp", offset, fmt, value)
    with pytest.raises(HeaderError, match=rf"spot\.bsp: .*{message}"):
        read_cube(folder / "spot.seq")


def test_axis_length_mismatch_with_data(image):
    folder, _ = image
    _patch(folder / "spot.bsp", 2236, "<i", NPTS + 1)  # header says 10 points, file holds 9
    with pytest.raises(DataFileError, match=r"spot\.dat: .*does not hold 10 points"):
        read_cube(folder / "spot.seq")


def test_truncated_header_and_missing_files(image, mosaic):
    folder, _ = image
    (folder / "spot.bsp").write_bytes((folder / "spot.bsp").read_bytes()[:1000])
    with pytest.raises(HeaderError, match=r"spot\.bsp: 1000 bytes, too short"):
        read_cube(folder / "spot.seq")
    (folder / "spot.dat").unlink()
    with pytest.raises(MissingFileError, match=r"spot\.seq: the processed spectra spot\.dat"):
        read_cube(folder / "spot.seq")
    folder, _ = mosaic
    (folder / "scan.dmt").unlink()
    with pytest.raises(MissingFileError, match=r"scan\.dms: no mosaic header"):
        read_cube(folder / "scan.dms")


def test_inspect_reads_a_mosaic(mosaic, capsys):
    folder, _ = mosaic
    assert main(["inspect", str(folder / "scan.dmt")]) == 0
    out = capsys.readouterr().out
    assert "8 x 12 x 9 (H x W x C)" in out

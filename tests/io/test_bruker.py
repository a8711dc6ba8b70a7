"""Bruker OPUS files written byte by byte (``tests/io/opus_files.py``) read back exactly;
truncated and malformed files refused with errors naming the file."""

import numpy as np
import pytest

from irpath.cli.main import main
from irpath.errors import DataFileError, HeaderError, ShapeError
from irpath.io import read_cube
from tests.io.opus_files import write_opus


def test_single_absorbance_spectrum(tmp_path, rng):
    y = rng.normal(size=40).astype(np.float32)
    write_opus(tmp_path / "s.0", y, 1800.0, 950.0)
    cube = read_cube(tmp_path / "s.0")
    assert cube.shape == (1, 1, 40)
    np.testing.assert_array_equal(cube.data[0, 0], y)
    np.testing.assert_allclose(cube.wavenumbers, np.linspace(1800.0, 950.0, 40))


def test_micrometre_axis_converted_and_transmittance(tmp_path):
    y = np.arange(6, dtype=np.float32)
    write_opus(tmp_path / "t.opus", y, 5.0, 10.0, dxu="MI", kind=5)
    cube = read_cube(tmp_path / "t.opus")
    np.testing.assert_allclose(cube.wavenumbers, 1e4 / np.linspace(5.0, 10.0, 6))


def test_series_as_image(tmp_path, rng):
    y = rng.normal(size=(6, 5)).astype(np.float32)
    write_opus(tmp_path / "map.1", y, 1000.0, 1400.0, series=True)
    cube = read_cube(tmp_path / "map.1")
    assert cube.shape == (1, 6, 5)
    from irpath.io.bruker import read_opus
    image = read_opus(tmp_path / "map.1", shape=(2, 3))
    np.testing.assert_array_equal(image.data, y.reshape(2, 3, 5))
    with pytest.raises(ShapeError, match=r"map\.1: shape \(4, 2\) needs 8 spectra, the file holds 6"):
        read_opus(tmp_path / "map.1", shape=(4, 2))


def test_truncated_file(tmp_path):
    raw = write_opus(tmp_path / "s.0", np.ones(30), 1800.0, 950.0)
    for cut in (len(raw) - 8, 40, 10):
        (tmp_path / "s.0").write_bytes(raw[:cut])
        with pytest.raises(DataFileError, match=r"s\.0: .*truncated"):
            read_cube(tmp_path / "s.0")


def test_not_opus_and_bad_header(tmp_path):
    (tmp_path / "x.0").write_bytes(b"hello world, not opus" * 4)
    with pytest.raises(DataFileError, match=r"x\.0: not a Bruker OPUS file"):
        read_cube(tmp_path / "x.0")
    raw = bytearray(write_opus(tmp_path / "y.0", np.ones(5), 1800.0, 950.0))
    raw[12:16] = (2).to_bytes(4, "little")  # directory pointer inside the header
    (tmp_path / "y.0").write_bytes(bytes(raw))
    with pytest.raises(HeaderError, match=r"y\.0: impossible OPUS header"):
        read_cube(tmp_path / "y.0")


def test_npt_larger_than_data(tmp_path):
    write_opus(tmp_path / "s.0", np.ones(5), 1800.0, 950.0, npt=9)
    with pytest.raises(DataFileError, match=r"s\.0: no a or t .*NPT larger than the data"):
        read_cube(tmp_path / "s.0")


def test_non_spectral_axis(tmp_path):
    write_opus(tmp_path / "s.0", np.ones(5), 0.0, 10.0, dxu="PNT")
    with pytest.raises(HeaderError, match=r"s\.0: .*x unit 'PNT'"):
        read_cube(tmp_path / "s.0")
    write_opus(tmp_path / "c.0", np.ones(5), 1000.0, 1000.0)  # FXV == LXV: constant axis
    with pytest.raises(HeaderError, match=r"c\.0: .*not strictly"):
        read_cube(tmp_path / "c.0")


def test_inspect_reads_opus(tmp_path, capsys):
    write_opus(tmp_path / "s.0", np.linspace(0.1, 1, 12), 1800.0, 950.0)
    assert main(["inspect", str(tmp_path / "s.0")]) == 0
    assert "1 x 1 x 12 (H x W x C)" in capsys.readouterr().out

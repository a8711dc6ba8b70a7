"""Every bad input raises its specific IrpathError subclass, naming the file."""

import pytest

from tests.io.bad_inputs import CASES
from irpath.io import read_cube, read_manifest
from irpath.spectra import check_spectra


def _open(path):
    """What ``irpath inspect`` does with a path before summarising it."""
    if path.suffix == ".csv":
        return read_manifest(path)
    cube = read_cube(path)
    check_spectra(cube.data, cube.valid, name=cube.path)
    return cube


def test_every_error_kind_is_exercised():
    """Each kind of user error the readers raise has at least one case in the matrix."""
    from irpath import errors

    kinds = {error for _, error in CASES.values()}
    assert {errors.MissingFileError, errors.UnsupportedFormatError, errors.HeaderError,
            errors.DataFileError, errors.DatasetNotFoundError, errors.InvalidValuesError,
            errors.ManifestError} <= kinds


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_named_error(case, tmp_path):
    make, error = CASES[case]
    path = make(tmp_path)
    with pytest.raises(error) as info:
        _open(path)
    assert type(info.value) is error
    assert path.name in str(info.value)
    assert "\n" not in str(info.value)


def test_envi_size_message_says_which_way(tmp_path):
    from tests.io.bad_inputs import GOOD_BYTES, write_envi

    hdr = write_envi(tmp_path, n_bytes=GOOD_BYTES - 4)
    with pytest.raises(Exception, match=r"96 bytes \(truncated\)"):
        read_cube(hdr)
    write_envi(tmp_path, n_bytes=GOOD_BYTES + 8)
    with pytest.raises(Exception, match="8 bytes too long"):
        read_cube(hdr)

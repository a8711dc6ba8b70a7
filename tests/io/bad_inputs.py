"""Bad inputs shared by ``tests/io/test_bad_input.py`` and ``tests/cli/test_inspect.py``.

Each case writes one broken file into a folder and returns ``(path, error
class)``: the path a user would pass and the :mod:`irpath.errors` class the
readers must raise, with a message naming that file.
"""

import h5py
import numpy as np

from irpath.errors import (DataFileError, DatasetNotFoundError, HeaderError, InvalidValuesError,
                           ManifestError, MissingFileError, UnsupportedFormatError)

# A valid 3 x 4 x 2 float32 BSQ header; cases override, drop or add keys.
GOOD_HEADER = {"samples": "4", "lines": "3", "bands": "2", "header offset": "0",
               "data type": "4", "interleave": "bsq", "byte order": "0",
               "wavelength": "{1000, 1100}"}
GOOD_BYTES = 3 * 4 * 2 * 4


def write_envi(folder, *, drop=(), first_line="ENVI", extra=(), n_bytes=GOOD_BYTES,
               data_suffix=".dat", **changes):
    """Write ``spot.hdr`` (+ ``spot<data_suffix>`` unless None); ``changes`` use ``_`` for spaces."""
    fields = {**GOOD_HEADER, **{k.replace("_", " "): v for k, v in changes.items()}}
    for key in drop:
        del fields[key]
    lines = [first_line] + [f"{k} = {v}" for k, v in fields.items()] + list(extra)
    hdr = folder / "spot.hdr"
    hdr.write_text("\n".join(lines) + "\n")
    if data_suffix is not None:
        values = np.arange(1, n_bytes // 4 + 1, dtype="<f4").tobytes()
        (folder / f"spot{data_suffix}").write_bytes(values + b"\1" * (n_bytes % 4))
    return hdr


def _spots(folder, n=2):
    names = []
    for i in range(n):
        np.save(folder / f"s{i}.npy", np.ones((3, 4, 2), np.float32))
        names.append(f"s{i}.npy")
    return names


def _manifest(folder, rows, header="image,label"):
    path = folder / "manifest.csv"
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def _npy(folder, name, value):
    cube = np.ones((3, 4, 2), np.float32)
    cube[1, 2, 0] = value
    np.save(folder / name, cube)
    return folder / name


def _h5(folder, **datasets):
    path = folder / "scan.h5"
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f[name] = value
    return path


def _write(folder, name, data: bytes):
    (folder / name).write_bytes(data)
    return folder / name


CASES = {
    "envi_byte_order_value": (lambda d: write_envi(d, byte_order="2"), HeaderError),
    "envi_byte_order_missing": (lambda d: write_envi(d, drop=["byte order"]), HeaderError),
    "envi_interleave_spelling": (lambda d: write_envi(d, interleave="bsq2"), HeaderError),
    "envi_duplicate_key": (lambda d: write_envi(d, extra=["samples = 4"]), HeaderError),
    "envi_truncated": (lambda d: write_envi(d, n_bytes=GOOD_BYTES - 4), DataFileError),
    "envi_too_long": (lambda d: write_envi(d, n_bytes=GOOD_BYTES + 8), DataFileError),
    "envi_wavelength_count": (lambda d: write_envi(d, wavelength="{1000, 1100, 1200}"),
                              HeaderError),
    "envi_wavelength_not_numeric": (lambda d: write_envi(d, wavelength="{1000, abc}"),
                                    HeaderError),
    "envi_unknown_data_type": (lambda d: write_envi(d, data_type="7"), HeaderError),
    "envi_complex_data_type": (lambda d: write_envi(d, data_type="6"), HeaderError),
    "envi_zero_lines": (lambda d: write_envi(d, lines="0"), HeaderError),
    "envi_negative_samples": (lambda d: write_envi(d, samples="-4"), HeaderError),
    "envi_fractional_bands": (lambda d: write_envi(d, bands="2.5"), HeaderError),
    "envi_missing_samples": (lambda d: write_envi(d, drop=["samples"]), HeaderError),
    "envi_negative_offset": (lambda d: write_envi(d, header_offset="-8"), HeaderError),
    "envi_unbalanced_braces": (lambda d: write_envi(d, wavelength="{1000, 1100"), HeaderError),
    "envi_first_line": (lambda d: write_envi(d, first_line="ENVY"), HeaderError),
    "envi_missing_data_file": (lambda d: write_envi(d, data_suffix=None), MissingFileError),
    "hdf5_without_dataset": (lambda d: _h5(d, foo=np.ones(3), bar=np.ones((2, 2))),
                             DatasetNotFoundError),
    "hdf5_not_hdf5": (lambda d: _write(d, "scan.h5", b"this is not HDF5\n" * 8), DataFileError),
    "mat_not_mat": (lambda d: _write(d, "scan.mat", b"\x00junk" * 40), DataFileError),
    "png_corrupt": (lambda d: _write(d, "tile.png", b"\x89PNG\r\n\x1a\nbroken"), DataFileError),
    "npy_inf_spectra": (lambda d: _npy(d, "inf.npy", np.inf), InvalidValuesError),
    "npy_mixed_nan_spectra": (lambda d: _npy(d, "nan.npy", np.nan), InvalidValuesError),
    "manifest_missing_files": (lambda d: _manifest(d, ["gone.npy,1"]), ManifestError),
    "manifest_unknown_label": (lambda d: _manifest(d, [f"{_spots(d)[0]},cancer"]),
                               ManifestError),
    "manifest_duplicate_image": (lambda d: _manifest(d, [f"{n},1" for n in _spots(d)[:1] * 2]),
                                 ManifestError),
    "manifest_bad_header": (lambda d: _manifest(d, [f"{_spots(d)[0]},1"], header="file,class"),
                            ManifestError),
    "unsupported_extension": (lambda d: _write(d, "cube.xyz", b"123"), UnsupportedFormatError),
    "missing_file": (lambda d: d / "nowhere.npy", MissingFileError),
}

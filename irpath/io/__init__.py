"""Readers for the formats IR imaging and histology labs produce.

``read_cube(path)`` picks the reader from the file name:

============================  =====================================
``.hdr`` (or its data file)   ENVI, through ``spectral`` (validated header)
``.h5`` ``.hdf5`` ``.he5``    HDF5 (``h5py``)
``.npy`` ``.npz``             numpy, never unpickled
``.mat``                      MATLAB (scipy; v7.3 files go through HDF5)
``.png`` ``.jpg`` ``.tif``    RGB tiles (C = 3)
``.seq`` ``.dat`` (+``.bsp``)  Agilent FT-IR image (``agilent_format``)
``.dmt`` ``.dms`` ``.dmd``    Agilent FT-IR mosaic (``agilent_format``)
``.0`` ``.1`` ... ``.opus``   Bruker OPUS (``brukeropus``)
============================  =====================================
"""

from __future__ import annotations

from pathlib import Path

from irpath.errors import DataFileError, IrpathError, MissingFileError, UnsupportedFormatError
from irpath.io.cube import Cube
from irpath.io.manifest import Manifest, ManifestRow, read_manifest
from irpath.io.masks import read_mask

ENVI_SUFFIXES = (".hdr",)
ENVI_DATA_SUFFIXES = (".dat", ".img", ".raw", ".bsq", ".bil", ".bip", "")
HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".hdf")
NUMPY_SUFFIXES = (".npy", ".npz")
MAT_SUFFIXES = (".mat",)
RGB_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
AGILENT_SUFFIXES = (".seq", ".dmt", ".dms", ".dmd")
OPUS_SUFFIXES = (".opus", ".0")
CUBE_SUFFIXES = (ENVI_SUFFIXES + HDF5_SUFFIXES + NUMPY_SUFFIXES + MAT_SUFFIXES + RGB_SUFFIXES
                 + AGILENT_SUFFIXES + OPUS_SUFFIXES)

__all__ = ["Cube", "Manifest", "ManifestRow", "read_cube", "read_manifest", "read_mask",
           "CUBE_SUFFIXES"]


def _envi_header_for(path: Path) -> Path | None:
    """The ``.hdr`` beside an ENVI data file (``x.dat`` -> ``x.hdr`` or ``x.dat.hdr``)."""
    for cand in (path.with_suffix(".hdr"), Path(str(path) + ".hdr")):
        if cand.exists():
            return cand
    return None


def read_cube(path, *, mmap: bool = False, dataset: str | None = None,
              axis_key: str | None = None) -> Cube:
    """Read a cube from any supported file.

    Args:
        path: the file (for ENVI, the ``.hdr`` or the data file beside it).
        mmap: memory-map instead of loading (ENVI, ``.npy``, contiguous HDF5),
            so multi-GB mosaics open instantly; ``Cube.data`` is then a lazy view.
        dataset: HDF5 dataset / ``.npz`` array / ``.mat`` variable holding the cube.
        axis_key: HDF5 attribute or dataset / ``.npz`` / ``.mat`` name of the axis.

    Returns:
        A :class:`Cube`: (H, W, C) data, (C,) wavenumbers in cm^-1 or None, (H, W) valid mask.

    Raises:
        IrpathError subclasses, each naming ``path`` and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file")
    if path.is_dir():
        raise UnsupportedFormatError(f"{path}: is a directory, not a cube file")
    _check_readable(path)
    try:
        return _read(path, mmap=mmap, dataset=dataset, axis_key=axis_key)
    except IrpathError:
        raise
    except EOFError:
        raise DataFileError(f"{path}: empty or truncated file") from None
    except OSError as exc:
        where = exc.filename or path
        raise DataFileError(f"{where}: cannot read ({exc.strerror or exc})") from None


def _check_readable(path: Path) -> None:
    """Open the file (and an ENVI header's data files) once, so a permission problem is
    reported as such instead of surfacing inside a third-party reader."""
    files = [path]
    if path.suffix.lower() in ENVI_SUFFIXES:
        files += [f for f in (path.with_suffix(s) for s in ENVI_DATA_SUFFIXES if s) if f.is_file()]
    for f in files:
        try:
            with open(f, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise DataFileError(f"{f}: cannot read ({exc.strerror or exc})") from None
    if path.stat().st_size == 0:
        raise DataFileError(f"{path}: empty file (0 bytes)")


def _read(path: Path, *, mmap: bool, dataset, axis_key) -> Cube:
    suffix = path.suffix.lower()
    if suffix in ENVI_SUFFIXES:
        from irpath.io.envi import read_envi
        return read_envi(path, mmap=mmap)
    if suffix in HDF5_SUFFIXES:
        from irpath.io.hdf5 import read_hdf5
        return read_hdf5(path, dataset=dataset, axis_key=axis_key, mmap=mmap)
    if suffix == ".npy":
        from irpath.io.numpy_io import read_npy
        return read_npy(path, mmap=mmap)
    if suffix == ".npz":
        from irpath.io.numpy_io import read_npz
        return read_npz(path, dataset=dataset, axis_key=axis_key)
    if suffix in MAT_SUFFIXES:
        from irpath.io.matlab import read_mat
        return read_mat(path, variable=dataset, axis_key=axis_key)
    if suffix in RGB_SUFFIXES:
        from irpath.io.rgb import read_rgb
        return read_rgb(path)
    if suffix in AGILENT_SUFFIXES:
        from irpath.io.agilent import read_agilent
        return read_agilent(path, mmap=mmap)
    from irpath.io.bruker import is_opus_suffix
    if is_opus_suffix(suffix):
        from irpath.io.bruker import read_opus
        return read_opus(path)
    if suffix in ENVI_DATA_SUFFIXES:
        hdr = _envi_header_for(path)
        if hdr is not None:
            from irpath.io.envi import read_envi
            return read_envi(hdr, mmap=mmap)
        from irpath.io.agilent import is_agilent_dat
        if is_agilent_dat(path):
            from irpath.io.agilent import read_agilent
            return read_agilent(path)
    raise UnsupportedFormatError(
        f"{path}: unsupported file type {suffix or '(no extension)'!r}; expected one of "
        + " ".join(CUBE_SUFFIXES))

"""``.npy`` / ``.npz`` cubes. Never unpickles (``allow_pickle=False``)."""

from __future__ import annotations

import zipfile

import numpy as np

from irpath.errors import DataFileError, DatasetNotFoundError
from irpath.io.cube import Cube, make_cube

#: Names tried, in order, for the cube and the axis inside an ``.npz``.
NPZ_DATA_KEYS = ("cube", "data", "image", "arr_0")
NPZ_AXIS_KEYS = ("wavenumbers", "wavenumber", "wn", "axis")


def read_npy(path, *, mmap: bool = False) -> Cube:
    """Read an (H, W, C) ``.npy`` cube, memory-mapped if ``mmap``."""
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:  # object arrays, truncated files
        raise DataFileError(f"{path}: cannot read .npy: {exc}") from None
    return make_cube(path, arr, mmap=mmap)


def read_npz(path, *, dataset: str | None = None, axis_key: str | None = None) -> Cube:
    """Read a cube (and optional wavenumber axis) from an ``.npz`` archive.

    Args:
        dataset: array name of the cube; default the first of ``NPZ_DATA_KEYS`` present.
        axis_key: array name of the axis; default the first of ``NPZ_AXIS_KEYS`` present.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            key = dataset or next((k for k in NPZ_DATA_KEYS if k in names), None)
            if key is None or key not in names:
                want = dataset or " or ".join(NPZ_DATA_KEYS)
                raise DatasetNotFoundError(f"{path}: no array named {want} (has: {', '.join(names) or 'none'})")
            akey = axis_key or next((k for k in NPZ_AXIS_KEYS if k in names), None)
            if axis_key and axis_key not in names:
                raise DatasetNotFoundError(f"{path}: no axis array named {axis_key}")
            data = z[key]
            axis = z[akey] if akey else None
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise DataFileError(f"{path}: cannot read .npz: {exc}") from None
    return make_cube(path, data, wavenumbers=axis)

"""MATLAB ``.mat`` cubes: v4-v7 through ``scipy.io``, v7.3 (HDF5-based) through ``h5py``."""

from __future__ import annotations

import numpy as np

from irpath.errors import DataFileError, DatasetNotFoundError
from irpath.io.cube import Cube, make_cube

#: Variable names tried, in order, for the cube and for the axis.
DATA_KEYS = ("cube", "data", "image")
AXIS_KEYS = ("wavenumbers", "wavenumber", "wn")


def _is_numeric(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "biuf"


def _pick(path, variables: dict, variable: str | None, axis_key: str | None):
    """``(cube, axis)`` from a ``loadmat`` dict, following :func:`read_mat`'s rules."""
    listing = ", ".join(f"{k} {getattr(v, 'shape', '')}" for k, v in variables.items()) or "none"
    if variable is not None:
        if variable not in variables:
            raise DatasetNotFoundError(f"{path}: no variable named {variable} (has: {listing})")
        data = variables[variable]
    else:
        name = next((k for k in DATA_KEYS if _is_numeric(variables.get(k))), None)
        name = name or next((k for k, v in variables.items() if _is_numeric(v) and v.ndim == 3),
                            None)
        if name is None:
            raise DatasetNotFoundError(f"{path}: no 3-D numeric variable (has: {listing}); "
                                       "pass the variable name")
        data = variables[name]
    if axis_key is not None and axis_key not in variables:
        raise DatasetNotFoundError(f"{path}: no variable named {axis_key} for the wavenumber axis")
    akey = axis_key or next((k for k in AXIS_KEYS if k in variables), None)
    axis = variables[akey] if akey else None
    if axis is not None and not _is_numeric(axis):
        raise DataFileError(f"{path}: wavenumber axis {akey} is not a numeric array")
    return data, axis


def _read_v73(path, variable: str | None, axis_key: str | None) -> Cube:
    """A v7.3 file: HDF5 storing MATLAB's column-major (H, W, C) as (C, W, H)."""
    from irpath.io.hdf5 import load_hdf5

    data, axis = load_hdf5(path, dataset=variable, axis_key=axis_key)
    return make_cube(path, np.asarray(data).T, wavenumbers=axis)


def read_mat(path, *, variable: str | None = None, axis_key: str | None = None) -> Cube:
    """Read an (H, W, C) cube from a MATLAB ``.mat`` file.

    Args:
        path: the ``.mat`` file (any version; v7.3 is read as HDF5 and transposed
            back to MATLAB's (H, W, C) order).
        variable: name of the cube variable; default the first of :data:`DATA_KEYS`
            present, else the first 3-D numeric variable.
        axis_key: name of the wavenumber variable; default the first of
            :data:`AXIS_KEYS` present (a 1xC or Cx1 vector), else no axis.

    Returns:
        A :class:`Cube` (float32 in memory).

    Raises:
        DataFileError: not a MAT file, or unreadable.
        DatasetNotFoundError: the cube (or a requested axis) variable is missing.
    """
    from scipy.io import loadmat

    try:
        variables = loadmat(path)
    except NotImplementedError:  # scipy's answer to v7.3 files
        return _read_v73(path, variable, axis_key)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError... on junk
        raise DataFileError(f"{path}: cannot read MAT file: {exc}") from None
    variables = {k: v for k, v in variables.items() if not k.startswith("__")}
    data, axis = _pick(path, variables, variable, axis_key)
    return make_cube(path, data, wavenumbers=axis)

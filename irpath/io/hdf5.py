"""HDF5 cubes (``h5py``); also the reader behind MATLAB v7.3 ``.mat`` files."""

from __future__ import annotations

import numpy as np

from irpath.errors import DataFileError, DatasetNotFoundError
from irpath.io.cube import Cube, make_cube

#: Dataset names tried, in order, for the cube and for the axis.
DATA_KEYS = ("cube", "data", "image", "spectra")
AXIS_KEYS = ("wavenumbers", "wavenumber", "wn")


def _datasets(h5file) -> dict:
    """``{name: dataset}`` for every dataset in the file, in visiting order."""
    import h5py

    found = {}

    def visit(name, obj):  # returning non-None would stop the visit
        if isinstance(obj, h5py.Dataset):
            found[name] = obj

    h5file.visititems(visit)
    return found


def _listing(datasets: dict) -> str:
    return ", ".join(f"{n} {tuple(d.shape)}" for n, d in datasets.items()) or "no datasets"


def _pick_data(path, h5file, dataset: str | None):
    """The dataset holding the cube (see :func:`read_hdf5` for the rules)."""
    datasets = _datasets(h5file)
    if dataset is not None:
        name = dataset.strip("/")
        if name not in datasets:
            raise DatasetNotFoundError(f"{path}: no dataset named {dataset} "
                                       f"(has: {_listing(datasets)})")
        return datasets[name]
    for name in DATA_KEYS:
        if name in datasets:
            return datasets[name]
    cubes = [d for d in datasets.values() if d.ndim == 3]
    if len(cubes) == 1:
        return cubes[0]
    raise DatasetNotFoundError(f"{path}: no dataset named {' or '.join(DATA_KEYS)} and "
                               f"{len(cubes)} 3-D datasets to choose from (has: "
                               f"{_listing(datasets)}); pass the dataset name")


def _pick_axis(path, h5file, data, axis_key: str | None):
    """The axis values: an attribute of ``data`` or a dataset in the file, or None."""
    datasets = _datasets(h5file)
    for name in ([axis_key] if axis_key else list(AXIS_KEYS)):
        if name in data.attrs:
            return data.attrs[name]
        if name.strip("/") in datasets:
            return datasets[name.strip("/")][()]
    if axis_key:
        raise DatasetNotFoundError(f"{path}: no attribute of {data.name} or dataset named "
                                   f"{axis_key} for the wavenumber axis")
    return None


def _memmap(path, data) -> np.memmap | None:
    """A read-only memmap of a contiguous, uncompressed, allocated dataset, else None."""
    if data.chunks is not None or data.compression is not None or data.external:
        return None
    offset = data.id.get_offset()
    if offset is None or data.dtype.kind not in "biuf":
        return None
    return np.memmap(path, dtype=data.dtype, mode="r", offset=offset, shape=data.shape)


def load_hdf5(path, *, dataset: str | None = None, axis_key: str | None = None,
              mmap: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Read the raw cube array and axis from an HDF5 file, without validating shape.

    Args and Raises: as :func:`read_hdf5`.

    Returns:
        ``(data, axis)``: the dataset as stored (a memmap if ``mmap`` and the
        layout allows it), and the axis values (any shape) or None.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            data = _pick_data(path, f, dataset)
            axis = _pick_axis(path, f, data, axis_key)
            array = _memmap(path, data) if mmap else None
            if array is None:
                array = data[()]
    except (OSError, RuntimeError, ValueError) as exc:  # not HDF5, corrupt, unreadable filter
        raise DataFileError(f"{path}: cannot read HDF5: {exc}") from None
    if axis is not None:
        try:
            axis = np.asarray(axis, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataFileError(f"{path}: wavenumber axis is not numeric") from None
    return array, axis


def read_hdf5(path, *, dataset: str | None = None, axis_key: str | None = None,
              mmap: bool = False) -> Cube:
    """Read an (H, W, C) cube from an HDF5 file.

    Args:
        path: the ``.h5``/``.hdf5`` file.
        dataset: path of the cube's dataset; default the first of
            :data:`DATA_KEYS` present, else the file's only 3-D dataset.
        axis_key: name of the wavenumber axis, looked up as an attribute of the
            cube's dataset, then as a dataset; default the first of :data:`AXIS_KEYS`
            found that way (no axis if none is).
        mmap: memory-map contiguous, uncompressed datasets (chunked or compressed
            ones are read into memory).

    Returns:
        A :class:`Cube`.

    Raises:
        DataFileError: not an HDF5 file, or it is corrupt.
        DatasetNotFoundError: the cube (or a requested axis) is not in the file;
            the message lists the datasets present.
    """
    data, axis = load_hdf5(path, dataset=dataset, axis_key=axis_key, mmap=mmap)
    return make_cube(path, data, wavenumbers=axis, mmap=mmap)

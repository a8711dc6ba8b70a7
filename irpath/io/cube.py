"""The :class:`Cube` every reader returns, and checks shared by the readers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from irpath.errors import ShapeError
from irpath.io.axis import check_axis

# Rows per block when a memory-mapped cube is scanned; keeps memory bounded.
_BLOCK_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True, eq=False)
class Cube:
    """A hyperspectral (or RGB) image with its spectral axis and validity mask.

    Attributes:
        path: the file the cube was read from.
        data: (H, W, C) array. ``float32`` in memory, or, when the reader was
            asked for ``mmap=True``, a read-only memory-mapped view in the
            file's own dtype (convert blocks with ``np.asarray(x, np.float32)``).
        wavenumbers: (C,) float64 axis in cm^-1, or ``None`` when the file has none.
        valid: (H, W) bool; False where a pixel holds the file's ``data ignore
            value``, or any NaN/Inf. For a memory-mapped cube it is computed on
            first access (one scan of the file), so a caller that scans the data
            itself, like :func:`irpath.data.build_cache`, reads the file only once.
        ignore_value: the file's ``data ignore value`` (ENVI), or None.
    """

    path: str
    data: np.ndarray
    wavenumbers: np.ndarray | None
    ignore_value: float | None = None
    _valid: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @property
    def valid(self) -> np.ndarray:
        if self._valid is None:  # lazy for memory maps; frozen, so set it once here
            object.__setattr__(self, "_valid", validity_mask(self.data, self.ignore_value))
        return self._valid

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)

    def float32(self) -> np.ndarray:
        """The whole cube as an in-memory (H, W, C) float32 array."""
        return np.asarray(self.data, dtype=np.float32)

    def __repr__(self):
        axis = "none" if self.wavenumbers is None else (
            f"{self.wavenumbers[0]:.1f}..{self.wavenumbers[-1]:.1f} cm^-1")
        return f"Cube({self.path!r}, shape={self.shape}, dtype={self.data.dtype}, axis={axis})"


def release_pages(source) -> None:
    """Unmap the pages a read-only ``np.memmap`` has touched; anything else is left alone.

    The pages stay in the OS page cache, so reading them again is cheap; without
    this, every block read stays in the process's RSS until the map is closed, and
    one scan of a 7 GB mosaic costs 7 GB of RSS.
    """
    mm = getattr(source, "_mmap", None)
    if getattr(source, "mode", None) == "r" and hasattr(mm, "madvise") and not mm.closed:
        import mmap
        mm.madvise(mmap.MADV_DONTNEED)


def row_blocks(data: np.ndarray):
    """Yield ``(start, stop)`` row ranges so each block of ``data`` is ~64 MiB.

    When ``data`` is a read-only memory map, the pages of each block are released
    once the caller asks for the next one, so a scan's memory is bounded by the block.
    """
    h = data.shape[0]
    row_bytes = max(1, int(np.prod(data.shape[1:])) * data.dtype.itemsize)
    step = max(1, _BLOCK_BYTES // row_bytes)
    for start in range(0, h, step):
        yield start, min(h, start + step)
        release_pages(data)


def validity_mask(data: np.ndarray, ignore_value: float | None = None) -> np.ndarray:
    """(H, W) bool mask of pixels that hold usable spectra.

    A pixel is invalid if any channel is NaN/Inf, or if all channels equal
    ``ignore_value`` (ENVI ``data ignore value``). Reads memmaps block by block.
    """
    valid = np.empty(data.shape[:2], dtype=bool)
    for a, b in row_blocks(data):
        block = np.asarray(data[a:b])
        ok = np.ones(block.shape[:2], dtype=bool)
        if block.dtype.kind == "f":
            ok &= np.isfinite(block).all(axis=-1)
        if ignore_value is not None:
            ok &= ~(block == block.dtype.type(ignore_value)).all(axis=-1)
        valid[a:b] = ok
    return valid


def as_hwc(array: np.ndarray, path: str | Path) -> np.ndarray:
    """Check that ``array`` is (H, W, C) (or (H, W), promoted to C=1) with H, W, C >= 1."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ShapeError(f"{path}: expected an (H, W, C) cube, got an array of shape {array.shape}")
    if min(array.shape) < 1:
        raise ShapeError(f"{path}: cube has an empty dimension, shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ShapeError(f"{path}: unsupported array dtype {array.dtype}")
    return array


def make_cube(path, data, wavenumbers=None, ignore_value=None, mmap=False) -> Cube:
    """Build a validated :class:`Cube` from an (H, W, C) array (memmap allowed if ``mmap``).

    With ``mmap`` the data is not scanned here: ``Cube.valid`` is computed on first access.
    """
    data = as_hwc(data, path)
    axis = None if wavenumbers is None else check_axis(wavenumbers, data.shape[-1], path,
                                                       monotonic=False)
    valid = None if mmap else validity_mask(data, ignore_value)
    if not mmap:
        data = np.ascontiguousarray(data, dtype=np.float32)
    return Cube(path=str(path), data=data, wavenumbers=axis, ignore_value=ignore_value,
                _valid=valid)

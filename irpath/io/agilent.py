"""Agilent (Resolutions Pro) FT-IR images and mosaics, read through ``agilent_format``.

An Agilent single-tile image is ``x.dat`` (the spectra) beside ``x.bsp`` (the
acquisition header); ``x.seq`` beside them holds the interferograms, so a
``.seq`` path reads the processed spectra in its ``.dat``. A mosaic is ``x.dmt``
(header) plus tiles ``x_XXXX_YYYY.dmd``; a ``.dms`` or a tile path reads the
whole mosaic named by its ``.dmt``.

``agilent_format`` trusts the files it is given: a truncated tile raises a bare
``ValueError`` and a header shorter than its fixed offsets reads garbage. So the
header size, the wavenumber axis (``PtSep * (StartPt + i)``) and every data
file's size (255 float32 preamble + C x F x F values, F the focal-plane-array
size) are checked here first, with errors naming the file.

Pixels are in image coordinates (row 0 at the top; ``MAT=True`` in
``agilent_format``). Missing mosaic tiles come back as NaN, i.e. invalid pixels.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from irpath.errors import (DataFileError, HeaderError, InvalidValuesError, MissingFileError, ShapeError,
                           UnsupportedFormatError)
from irpath.io.cube import Cube, make_cube
from irpath.io.axis import check_axis

IMAGE_SUFFIXES = (".seq",)  # ``.dat`` + ``.bsp`` is recognised by read_cube
MOSAIC_SUFFIXES = (".dmt", ".dms", ".dmd")
SUFFIXES = IMAGE_SUFFIXES + MOSAIC_SUFFIXES

PREAMBLE = 255  # float32 values before the spectra in every .dat / .dmd
_HEADER_END = 2240  # the axis fields sit at bytes 2216..2240 of a .bsp / .dmt
_FPA_SIZES = tuple(2**n for n in range(1, 8))
_TILE = re.compile(r"^(?P<base>.+)_(?P<x>\d{4})_(?P<y>\d{4})$")


def is_agilent_dat(path) -> bool:
    """True if ``path`` is an Agilent ``.dat`` (a ``.bsp`` header lies beside it)."""
    path = Path(path)
    return path.suffix.lower() == ".dat" and _bsp_for(path) is not None


def _bsp_for(path: Path) -> Path | None:
    for cand in (path.with_suffix(".bsp"), path.parent / path.with_suffix(".bsp").name.lower()):
        if cand.is_file():
            return cand
    return None


def read_axis(header: Path) -> np.ndarray:
    """The (C,) wavenumber axis in cm^-1 stored in a ``.bsp`` / ``.dmt`` header.

    Raises:
        HeaderError: the header is shorter than its axis fields, the point count is
            not positive, or the axis is not finite and strictly monotonic.
    """
    raw = header.read_bytes()
    if len(raw) < _HEADER_END:
        raise HeaderError(f"{header}: {len(raw)} bytes, too short for an Agilent header "
                          f"(truncated? needs at least {_HEADER_END})")
    step = struct.unpack_from("<d", raw, 2216)[0]
    start = struct.unpack_from("<i", raw, 2228)[0]
    npts = struct.unpack_from("<i", raw, 2236)[0]
    if npts < 1:
        raise HeaderError(f"{header}: number of points is {npts}; expected a positive count")
    if not np.isfinite(step) or step <= 0:
        raise HeaderError(f"{header}: point spacing is {step!r}; expected a positive number")
    axis = step * (start + np.arange(npts, dtype=np.float64))
    try:
        return check_axis(axis, name=str(header))
    except (ShapeError, InvalidValuesError) as exc:
        raise HeaderError(str(exc)) from None


def _fpa_size(data_file: Path, npts: int, header: Path) -> int:
    """The focal-plane-array size F implied by a data file's size, checked exactly."""
    size = data_file.stat().st_size
    if size % 4:
        raise DataFileError(f"{data_file}: {size} bytes is not a whole number of float32 values")
    per_pixel = size // 4 - PREAMBLE
    for f in _FPA_SIZES:
        if per_pixel == npts * f * f:
            return f
    expected = ", ".join(str(4 * (PREAMBLE + npts * f * f)) for f in _FPA_SIZES[3:])
    raise DataFileError(f"{data_file}: {size} bytes does not hold {npts} points (from "
                        f"{header.name}) on a square focal-plane array (e.g. {expected} bytes "
                        "for 16..128 pixels); truncated or not an Agilent data file")


def _agilent_error(path: Path, exc: Exception):
    return HeaderError(f"{path}: malformed Agilent header ({type(exc).__name__}: {exc})")


def read_image(path) -> Cube:
    """Read a single-tile image from ``x.dat`` / ``x.seq`` (with ``x.bsp`` beside it).

    Returns:
        A :class:`Cube`: (F, F, C) float32 absorbance, (C,) ascending axis in cm^-1.
    """
    from agilent_format import agilentImage

    path = Path(path)
    dat = path.with_suffix(".dat")
    bsp = _bsp_for(path)
    if bsp is None:
        raise MissingFileError(f"{path}: no Agilent header {path.with_suffix('.bsp').name} beside it")
    if not dat.is_file():
        raise MissingFileError(f"{path}: the processed spectra {dat.name} are missing "
                               "(a .seq holds interferograms only)")
    axis = read_axis(bsp)
    _fpa_size(dat, axis.size, bsp)
    try:
        img = agilentImage(str(dat), MAT=True)
    except (KeyError, IndexError, UnicodeDecodeError, struct.error) as exc:
        raise _agilent_error(bsp, exc) from None
    return make_cube(path, np.asarray(img.data), wavenumbers=axis)


def _mosaic_base(path: Path) -> tuple[Path, Path]:
    """(dmt, tile base) for a ``.dmt``, ``.dms`` or ``x_XXXX_YYYY.dmd`` path."""
    stem = path.stem
    if path.suffix.lower() == ".dmd":
        m = _TILE.match(stem)
        if m is None:
            raise UnsupportedFormatError(f"{path}: a mosaic tile must be named <name>_XXXX_YYYY.dmd")
        stem = m.group("base")
    dmt = next((c for c in (path.parent / (stem + ".dmt"), path.parent / (stem.lower() + ".dmt"))
                if c.is_file()), None)
    if dmt is None:
        raise MissingFileError(f"{path}: no mosaic header {stem}.dmt beside it")
    # Tiles may differ from the .dmt in case: x.dmt with X_0000_0000.dmd.
    first = next((c for c in path.parent.glob("*_0000_0000.dmd")
                  if c.stem[:-10].casefold() == stem.casefold()), None)
    if first is None:
        raise MissingFileError(f"{dmt}: no first mosaic tile {stem}_0000_0000.dmd beside it")
    return dmt, first.with_name(first.stem[:-10])


class MosaicArray:
    """A lazy (H, W, C) float32 view of an Agilent mosaic, read tile row by tile row.

    Supports ``shape``, ``dtype``, ``ndim``, ``np.asarray`` and basic indexing
    whose first index selects rows, which is all :func:`irpath.io.cube.row_blocks`
    scans need: memory is bounded by one row of tiles.
    """

    def __init__(self, base: Path, xtiles: int, ytiles: int, fpa: int, npts: int):
        self.base, self.xtiles, self.ytiles, self.fpa, self.npts = base, xtiles, ytiles, fpa, npts
        self.shape = (ytiles * fpa, xtiles * fpa, npts)
        self.dtype = np.dtype(np.float32)
        self.ndim = 3

    def __len__(self):
        return self.shape[0]

    def _rows(self, start: int, stop: int) -> np.ndarray:
        out = np.full((stop - start, self.shape[1], self.npts), np.nan, dtype=np.float32)
        f = self.fpa
        for ty in range(start // f, (stop - 1) // f + 1 if stop > start else 0):
            lo, hi = max(start, ty * f), min(stop, (ty + 1) * f)
            local = np.arange(lo, hi) - ty * f
            for tx in range(self.xtiles):
                tile = self.base.with_name(f"{self.base.name}_{tx:04d}_{ty:04d}.dmd")
                if not tile.is_file():
                    continue
                raw = np.memmap(tile, dtype="<f4", mode="r", offset=4 * PREAMBLE,
                                shape=(self.npts, f, f))
                # MAT orientation: each tile is flipped upside down.
                out[lo - start:hi - start, tx * f:(tx + 1) * f] = np.transpose(
                    raw[:, f - 1 - local, :], (1, 2, 0))
                del raw
        return out

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        rows, rest = key[0], key[1:]
        if isinstance(rows, (int, np.integer)):
            r = int(rows) % self.shape[0]
            return self._rows(r, r + 1)[(0,) + rest]
        if not isinstance(rows, slice):
            raise TypeError("MosaicArray rows must be an int or a slice")
        start, stop, step = rows.indices(self.shape[0])
        block = self._rows(start, max(start, stop))
        return block[(slice(None, None, step),) + rest]

    def __array__(self, dtype=None, copy=None):
        data = self._rows(0, self.shape[0])
        return data if dtype is None else data.astype(dtype)


def read_mosaic(path, *, mmap: bool = False) -> Cube:
    """Read an Agilent mosaic from its ``.dmt``, ``.dms`` or any ``.dmd`` tile.

    Args:
        path: the ``.dmt`` header, the ``.dms`` summary or a tile file.
        mmap: return a lazy :class:`MosaicArray` (read tile row by tile row) instead
            of the whole mosaic in memory.

    Returns:
        A :class:`Cube`: (Y*F, X*F, C), tiles ``_XXXX_YYYY`` placed left to right, top
        to bottom; missing tiles are NaN (invalid pixels).

    Raises:
        MissingFileError, HeaderError, DataFileError: naming the offending file.
    """
    path = Path(path)
    dmt, base = _mosaic_base(path)
    axis = read_axis(dmt)
    tiles = {}
    for t in base.parent.glob(base.name + "_[0-9][0-9][0-9][0-9]_[0-9][0-9][0-9][0-9].dmd"):
        m = _TILE.match(t.stem)
        tiles[int(m.group("x")), int(m.group("y"))] = t
    fpa = _fpa_size(tiles[0, 0], axis.size, dmt)
    for t in tiles.values():
        if _fpa_size(t, axis.size, dmt) != fpa:
            raise DataFileError(f"{t}: tile size differs from {tiles[0, 0].name}")
    xtiles = 1 + max(x for x, y in tiles if y == 0)
    ytiles = 1 + max(y for x, y in tiles if x == 0)
    outside = sorted(k for k in tiles if k[0] >= xtiles or k[1] >= ytiles)
    if outside:
        raise DataFileError(f"{tiles[outside[0]]}: tile outside the {xtiles} x {ytiles} grid "
                            "spanned by the _XXXX_0000 and _0000_YYYY tiles")
    lazy = MosaicArray(base, xtiles, ytiles, fpa, axis.size)
    if mmap:
        return make_cube(path, lazy, wavenumbers=axis, mmap=True)
    from agilent_format import agilentMosaic

    try:
        data = agilentMosaic(str(dmt), MAT=True).data
    except (KeyError, IndexError, UnicodeDecodeError, struct.error) as exc:
        raise _agilent_error(dmt, exc) from None
    if data.shape != lazy.shape:
        raise DataFileError(f"{dmt}: agilent_format read {data.shape}, expected {lazy.shape}")
    return make_cube(path, data, wavenumbers=axis)


def read_agilent(path, *, mmap: bool = False) -> Cube:
    """Read any Agilent file: ``.seq``/``.dat`` (+ ``.bsp``) images, ``.dmt``/``.dms``/``.dmd`` mosaics."""
    path = Path(path)
    if path.suffix.lower() in MOSAIC_SUFFIXES:
        return read_mosaic(path, mmap=mmap)
    return read_image(path)

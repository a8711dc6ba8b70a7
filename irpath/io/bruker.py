"""Bruker OPUS files (``x.0``, ``x.1``, ... or ``.opus``), read through ``brukeropus``.

An OPUS file holds blocks listed in a directory: parameter blocks, data blocks
and, for each data block, a *data status* block giving its point count ``NPT``,
first/last x value ``FXV``/``LXV``, x unit ``DXU`` and y scale ``CSF``.
``brukeropus`` skips blocks it cannot parse and keeps going, so a truncated file
can come back with its spectrum silently missing. Here the header and the
directory are checked first (every block must lie inside the file), then the
spectrum is taken from the first of :data:`PREFERRED_KEYS` present.

Cube layout: a single spectrum is a (1, 1, C) cube; a data series (a 3-D block
of N spectra, e.g. a line scan or an FPA image exported as a series) is a
(1, N, C) cube, or (H, W, C) when ``shape=(H, W)`` is given with H * W = N.
The axis is converted to cm^-1 (``DXU`` = ``WN``, ``MI`` micrometres or ``LGW``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from irpath.errors import DataFileError, HeaderError, InvalidValuesError, ShapeError
from irpath.io.cube import Cube, make_cube
from irpath.io.axis import check_axis

MAGIC = b"\n\n\xfe\xfe"
SUFFIXES = (".opus",)  # plus the numeric ``.0`` ``.1`` ... suffixes: see is_opus_suffix
#: Data blocks tried in order: absorbance, transmittance, reflectance, ATR, sample single channel.
PREFERRED_KEYS = ("a", "t", "r", "atr", "sm")
_HEADER_BYTES = 24


def is_opus_suffix(suffix: str) -> bool:
    """True for ``.opus`` and OPUS's numbered suffixes ``.0``, ``.1``, ... ``.999``."""
    suffix = suffix.lower()
    return suffix in SUFFIXES or (suffix[1:].isdigit() and len(suffix) <= 4)


def check_structure(path: Path, raw: bytes) -> None:
    """Check the OPUS header and that every directory entry lies inside the file.

    Raises:
        DataFileError: not an OPUS file, or truncated (a block runs past the end).
        HeaderError: the header's directory pointer or block counts are impossible.
    """
    from brukeropus.file.parse import parse_directory, parse_header

    if raw[:4] != MAGIC:
        raise DataFileError(f"{path}: not a Bruker OPUS file (first bytes {raw[:4]!r}, "
                            f"expected {MAGIC!r})")
    if len(raw) < _HEADER_BYTES:
        raise DataFileError(f"{path}: {len(raw)} bytes, truncated inside the OPUS header")
    _, start, max_blocks, n_blocks = parse_header(raw)
    if start < _HEADER_BYTES or max_blocks < 1 or not 0 < n_blocks <= max_blocks:
        raise HeaderError(f"{path}: impossible OPUS header (directory at byte {start}, "
                          f"{n_blocks} of {max_blocks} blocks)")
    end = start + 12 * max_blocks
    if end > len(raw):
        raise DataFileError(f"{path}: {len(raw)} bytes, truncated: the directory runs to "
                            f"byte {end}")
    for block_type, size, first in parse_directory(raw[start:end]):
        if size < 0 or first + size > len(raw):
            raise DataFileError(f"{path}: {len(raw)} bytes, truncated: block {block_type} "
                                f"runs from byte {first} to {first + size}")


def _axis(path: Path, data) -> np.ndarray:
    unit = getattr(data.params, "dxu", None)
    if unit not in ("WN", "MI", "LGW"):
        raise HeaderError(f"{path}: {data.label} has x unit {unit!r}; expected a spectral "
                          "axis (WN, MI or LGW)")
    try:
        return check_axis(data.wn, name=str(path))
    except (ShapeError, InvalidValuesError) as exc:
        raise HeaderError(f"{exc} (FXV/LXV of {data.label})") from None


def read_opus(path, *, key: str | None = None, shape: tuple[int, int] | None = None) -> Cube:
    """Read the spectrum or spectra of a Bruker OPUS file.

    Args:
        path: the OPUS file.
        key: ``brukeropus`` data key to read (``"a"``, ``"t"``, ``"sm"``, ...);
            default the first of :data:`PREFERRED_KEYS` present, else the only one.
        shape: (H, W) for a data series of H * W spectra (row-major).

    Returns:
        A :class:`Cube`: (1, 1, C), (1, N, C) or (H, W, C) float32 with its cm^-1 axis.

    Raises:
        DataFileError: not OPUS, truncated, unparseable data blocks, or no spectrum.
        HeaderError: a bad header, a non-spectral or non-monotonic x axis.
        ShapeError: ``shape`` does not match the number of spectra.
    """
    from brukeropus import OPUSFile

    path = Path(path)
    raw = path.read_bytes()
    check_structure(path, raw)
    try:
        opus = OPUSFile(str(path))
    except (struct.error, ValueError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: malformed OPUS file ({type(exc).__name__}: {exc})") from None
    keys = list(opus.all_data_keys)
    bad = [b for b in getattr(opus, "parse_error_blocks", []) if b.type[2] == 0]
    if key is None:
        key = next((k for k in PREFERRED_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
    if key is None or key not in keys:
        why = f"; {len(bad)} data block(s) could not be parsed" if bad else ""
        if opus.unmatched_data_blocks:
            why += (f"; {len(opus.unmatched_data_blocks)} data block(s) without a matching data "
                    "status block (NPT larger than the data?)")
        want = key or " or ".join(PREFERRED_KEYS)
        raise DataFileError(f"{path}: no {want} spectrum (data blocks: "
                            f"{', '.join(keys) or 'none'}{why})")
    data = getattr(opus, key)
    axis = _axis(path, data)
    y = np.asarray(data.y, dtype=np.float32)
    npt = data.params.npt  # per spectrum (an array) for a series
    npt = int(npt) if np.ndim(npt) == 0 else int(np.max(npt, initial=y.shape[-1]))
    if y.shape[-1] != npt or y.shape[-1] != axis.size:
        raise DataFileError(f"{path}: {data.label} holds {y.shape[-1]} points but its data status "
                            f"declares NPT = {npt} (truncated data block)")
    spectra = y.reshape(-1, axis.size)
    if shape is None:
        shape = (1, spectra.shape[0])
    if int(np.prod(shape)) != spectra.shape[0]:
        raise ShapeError(f"{path}: shape {tuple(shape)} needs {int(np.prod(shape))} spectra, "
                         f"the file holds {spectra.shape[0]}")
    return make_cube(path, spectra.reshape(*shape, axis.size), wavenumbers=axis)

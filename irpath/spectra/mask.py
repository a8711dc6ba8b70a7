"""Tissue masks and sanity checks for pixel spectra.

Pixels not covered by tissue are *background* (Schuhmacher et al. 2019,
section 2, "following commonly established procedures"): pixels flagged
invalid by the reader, all-zero or NaN spectra, and pixels whose absorbance is
low compared with the tissue's. All functions read memory-mapped cubes in
~64 MiB row blocks.
"""

from __future__ import annotations

import numpy as np

from irpath.errors import ConfigError, InvalidValuesError, ShapeError
from irpath.io.cube import release_pages, row_blocks
from irpath.io.axis import check_axis

#: Amide I band (cm^-1) used as the absorbance measure when an axis is given.
AMIDE_I_BAND = (1630.0, 1680.0)

#: Percentile of the absorbance over non-empty pixels that ``rel_threshold`` scales.
REFERENCE_PERCENTILE = 99.0


def _where(name: str) -> str:
    return f"{name}: " if name else ""


def _valid(valid, shape, name: str = "") -> np.ndarray:
    if valid is None:
        return np.ones(shape[:2], dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != tuple(shape[:2]):
        raise ShapeError(f"{_where(name)}valid mask is {valid.shape} but the cube is "
                         f"{tuple(shape[:2])}")
    return valid


def spans_amide_band(axis) -> bool:
    """Whether ``axis`` runs over the whole of :data:`AMIDE_I_BAND`: then the tissue mask is
    taken on that band (``tissue_mask(..., axis=axis)``), else on the whole spectrum.

    Args:
        axis: (C,) wavenumbers, or None (no axis: False).
    """
    if axis is None:
        return False
    axis = np.asarray(axis, dtype=np.float64)
    return bool(axis.min() <= AMIDE_I_BAND[0] and axis.max() >= AMIDE_I_BAND[1])


def _band_slice(axis, n_channels: int, band) -> slice:
    axis = check_axis(axis, n_channels)
    lo, hi = sorted(float(b) for b in band)
    idx = np.flatnonzero((axis >= lo) & (axis <= hi))
    if idx.size == 0:
        raise ShapeError(f"no channel in the absorbance band {lo:g}-{hi:g} cm^-1 (axis spans "
                         f"{axis.min():g}-{axis.max():g})")
    return slice(int(idx[0]), int(idx[-1]) + 1)


def tissue_mask(cube: np.ndarray, valid=None, *, rel_threshold: float = 0.1,
                amide_band=None, axis=None) -> np.ndarray:
    """(H, W) bool mask of tissue pixels.

    Background is: pixels with ``valid`` False, all-zero spectra, spectra with
    any NaN/Inf, and pixels whose absorbance is below ``rel_threshold`` times
    the 99th percentile of the absorbance over the remaining (non-zero, finite)
    pixels. The absorbance is the mean over all channels, or, when ``axis`` is
    given, the mean over the amide I band (``amide_band``, default 1630-1680 cm^-1).

    Args:
        cube: (H, W, C) array, e.g. ``Cube.data``.
        valid: (H, W) bool, e.g. ``Cube.valid``; None = all valid.
        rel_threshold: fraction of the reference absorbance below which a pixel
            is background; 0 keeps every non-zero finite pixel.
        amide_band: ``(lo, hi)`` cm^-1; needs ``axis``.
        axis: (C,) wavenumbers of ``cube``.

    Returns:
        (H, W) bool, True on tissue.
    """
    if not 0.0 <= rel_threshold < 1.0:
        raise ConfigError(f"rel_threshold must be in [0, 1), got {rel_threshold}")
    if amide_band is not None and axis is None:
        raise ConfigError("amide_band needs the cube's wavenumber axis (axis=...)")
    band = slice(None)
    if axis is not None:
        band = _band_slice(axis, cube.shape[-1], amide_band or AMIDE_I_BAND)
    keep = _valid(valid, cube.shape).copy()
    level = np.zeros(cube.shape[:2], dtype=np.float64)
    for a, b in row_blocks(cube):
        block = np.asarray(cube[a:b])
        keep[a:b] &= np.isfinite(block).all(axis=-1) & (block != 0).any(axis=-1)
        with np.errstate(invalid="ignore"):
            level[a:b] = block[..., band].mean(axis=-1, dtype=np.float64)
    if not keep.any():
        return keep
    reference = np.percentile(level[keep], REFERENCE_PERCENTILE)
    return keep & (level >= rel_threshold * reference)


def band_tissue_mask(cube, valid=None, *, axis, rel_threshold: float = 0.1, amide_band=None) -> np.ndarray:
    """:func:`tissue_mask` read from the amide I band's channels only, a row block at a time.

    The low-cost mask of a mosaic: only the band's channels are copied out of each block
    (for a BSQ memory map, only those bands' pages are read), so memory stays bounded by
    one block of the band. Background: ``valid`` False, a band with NaN/Inf or all zero,
    or a band mean below ``rel_threshold`` times its 99th percentile over the rest; for
    cubes that passed :func:`check_spectra` this is :func:`tissue_mask` with ``axis``.

    Args:
        cube: (H, W, C) array-like with basic slicing (np.memmap, ``Cube.data``).
        valid: (H, W) bool, None = all valid.
        axis: (C,) wavenumbers of ``cube`` (must span ``amide_band``).
        rel_threshold, amide_band: as :func:`tissue_mask`.

    Returns:
        (H, W) bool, True on tissue.
    """
    if not 0.0 <= rel_threshold < 1.0:
        raise ConfigError(f"rel_threshold must be in [0, 1), got {rel_threshold}")
    band = _band_slice(axis, cube.shape[-1], amide_band or AMIDE_I_BAND)
    keep = _valid(valid, cube.shape).copy()
    level = np.zeros(cube.shape[:2], dtype=np.float64)
    step = max(1, (64 << 20) // max(1, int(cube.shape[1]) * (band.stop - band.start) * 8))
    for a in range(0, cube.shape[0], step):
        b = min(cube.shape[0], a + step)
        block = np.asarray(cube[a:b, :, band], dtype=np.float64)
        keep[a:b] &= np.isfinite(block).all(axis=-1) & (block != 0).any(axis=-1)
        with np.errstate(invalid="ignore"):
            level[a:b] = block.mean(axis=-1)
        release_pages(cube)  # memory maps: unmap the block's pages
    if not keep.any():
        return keep
    reference = np.percentile(level[keep], REFERENCE_PERCENTILE)
    return keep & (level >= rel_threshold * reference)


#: Largest absolute spectral value accepted: squares and sums of such values stay finite in float32.
MAX_ABS_VALUE = 1e15


def check_spectra(cube: np.ndarray, valid=None, name: str = "") -> None:
    """Refuse cubes whose spectra cannot be trusted.

    Pixels that are entirely NaN are background and accepted (the cache sets
    them to 0). Refused: any ±Inf, a pixel mixing NaN and finite channels, or
    a cube with no pixel left that is valid, finite and not all zero.

    Args:
        cube: (H, W, C) array.
        valid: (H, W) bool from the reader; None = all valid.
        name: the cube's file, named in the message.

    Raises:
        InvalidValuesError: naming ``name``, with the number of bad pixels and the
            first one's (row, column).
    """
    valid = _valid(valid, cube.shape, name)
    n_inf = n_mixed = 0
    first = None
    any_tissue = False
    for a, b in row_blocks(cube):
        block = np.asarray(cube[a:b])
        with np.errstate(invalid="ignore"):
            huge = (np.abs(block) > MAX_ABS_VALUE) & np.isfinite(block)
        if huge.any():
            r, c = np.argwhere(huge.any(axis=-1))[0]
            raise InvalidValuesError(
                f"{_where(name)}{int(huge.any(axis=-1).sum())} pixel(s) hold values beyond "
                f"+/-{MAX_ABS_VALUE:g} (first at row {a + int(r)}, column {int(c)}: "
                f"{float(block[r, c][huge[r, c]][0]):g}); float32 arithmetic on them overflows. "
                "Are the units right?")
        nan = np.isnan(block)
        inf_px = np.isinf(block).any(axis=-1)
        mixed_px = nan.any(axis=-1) & ~nan.all(axis=-1)
        bad = inf_px | mixed_px
        n_inf += int(inf_px.sum())
        n_mixed += int(mixed_px.sum())
        if first is None and bad.any():
            r, c = np.argwhere(bad)[0]
            first = (a + int(r), int(c))
        finite = ~nan.any(axis=-1) & ~inf_px
        any_tissue |= bool((valid[a:b] & finite & (block != 0).any(axis=-1)).any())
    if n_inf or n_mixed:
        parts = []
        if n_inf:
            parts.append(f"{n_inf} pixel(s) contain +/-Inf")
        if n_mixed:
            parts.append(f"{n_mixed} pixel(s) mix NaN with finite values")
        raise InvalidValuesError(f"{_where(name)}{' and '.join(parts)} (first at row {first[0]}, "
                                 f"column {first[1]}); only whole-NaN background pixels are "
                                 "allowed")
    if not any_tissue:
        raise InvalidValuesError(f"{_where(name)}no tissue pixel: every pixel is invalid, NaN "
                                 "or all zero")

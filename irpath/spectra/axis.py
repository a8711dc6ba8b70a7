"""The wavenumber axis: crop a cube to a range and resample it onto the model's axis.

Cubes are (H, W, C) arrays; an axis is a strictly monotonic (C,) array of
wavenumbers in cm^-1, ascending or descending. The CompSegNet data are 450
channels from 1800 to 948 cm^-1 (Schuhmacher et al. 2019, section 2), stored
in descending order as in the paper; :data:`DEFAULT_AXIS` is that axis.
"""

from __future__ import annotations

import numpy as np

from irpath.errors import ShapeError
from irpath.io.axis import check_axis
from irpath.io.cube import row_blocks

#: The model's axis: 450 channels, 1800 -> 948 cm^-1 (descending).
DEFAULT_AXIS = np.linspace(1800.0, 948.0, 450)

# Target points this close (relative to the source span) outside the source range
# still count as covered; absorbs float round-off in axes read from headers.
_EDGE_TOL = 1e-6
_EDGE_CHANNELS = 2  # target channels a source axis may fall short by at each end


def _where(name: str) -> str:
    return f"{name}: " if name else ""


def crop(cube: np.ndarray, axis, lo: float, hi: float, *, name: str = ""):
    """Keep the channels whose wavenumber lies in ``[lo, hi]`` (inclusive).

    Args:
        cube: (H, W, C) array (a memory map stays a lazy view).
        axis: (C,) wavenumbers in cm^-1, ascending or descending.
        lo, hi: range bounds in cm^-1, in either order.
        name: used in error messages.

    Returns:
        ``(cube, axis)``: an (H, W, C') view and the (C',) axis, in the original order.

    Raises:
        ShapeError: the axis does not match the cube, or no channel is in the range.
    """
    axis = check_axis(axis, cube.shape[-1], name)
    lo, hi = sorted((float(lo), float(hi)))
    keep = np.flatnonzero((axis >= lo) & (axis <= hi))
    if keep.size == 0:
        raise ShapeError(f"{_where(name)}no channel in {lo:g}-{hi:g} cm^-1 (axis spans "
                         f"{axis.min():g}-{axis.max():g})")
    # Contiguous because the axis is monotonic: a basic slice keeps memmaps lazy.
    sl = slice(int(keep[0]), int(keep[-1]) + 1)
    return cube[..., sl], axis[sl]


def _interp_weights(axis: np.ndarray, target: np.ndarray, name: str):
    """Indices ``i`` and weights ``w`` with ``f(t) = (1 - w) f[i] + w f[i + 1]``."""
    order = np.argsort(axis)
    src = axis[order]
    span = src[-1] - src[0]
    # An instrument axis a channel or two short of the target's ends (e.g. 1799.3 -> 950.1
    # for 1800 -> 948) is accepted: the end values are held (constant extrapolation).
    spacing = float(np.abs(np.diff(target)).mean()) if target.size > 1 else 0.0
    tol = max(_EDGE_TOL * max(abs(span), abs(src[-1]), 1.0), _EDGE_CHANNELS * spacing)
    if target.min() < src[0] - tol or target.max() > src[-1] + tol:
        raise ShapeError(f"{_where(name)}spectral axis {src[0]:g}-{src[-1]:g} cm^-1 does not "
                         f"cover the target range {target.min():g}-{target.max():g} cm^-1")
    if src.size == 1:
        zeros = np.zeros(target.size, dtype=np.intp)
        return order[zeros], order[zeros], np.zeros(target.size)
    t = np.clip(target, src[0], src[-1])
    j = np.clip(np.searchsorted(src, t, side="right") - 1, 0, src.size - 2)
    w = (t - src[j]) / (src[j + 1] - src[j])
    return order[j], order[j + 1], w


def resample(cube: np.ndarray, axis, target_axis=DEFAULT_AXIS, *, name: str = "") -> np.ndarray:
    """Linearly interpolate every pixel spectrum onto ``target_axis``.

    Vectorised over pixels; a memory-mapped cube is read in ~64 MiB row blocks.

    Args:
        cube: (H, W, C) array.
        axis: (C,) source wavenumbers, ascending or descending.
        target_axis: (T,) wavenumbers to sample at, any order (the output follows it).
        name: used in error messages.

    Returns:
        (H, W, T) float32 array.

    Raises:
        ShapeError: the axis does not match the cube or does not cover ``target_axis``.
    """
    axis = check_axis(axis, cube.shape[-1], name)
    target = check_axis(target_axis, name=name)
    lo_idx, hi_idx, w = _interp_weights(axis, target, name)
    w = w.astype(np.float32)
    out = np.empty(cube.shape[:2] + (target.size,), dtype=np.float32)
    for a, b in row_blocks(cube):
        block = np.asarray(cube[a:b], dtype=np.float32)
        out[a:b] = block[..., lo_idx] * (1.0 - w) + block[..., hi_idx] * w
    return out


def to_target_axis(cube: np.ndarray, axis, target_axis=DEFAULT_AXIS, name: str = ""):
    """Bring a cube onto the model's spectral axis.

    Args:
        cube: (H, W, C) array.
        axis: (C,) wavenumbers, or None when the file has no axis; the channels
            are then assumed to be ``target_axis`` already.
        target_axis: (T,) the model's axis.
        name: the cube's file, used in messages.

    Returns:
        ``cube`` itself (possibly a memmap) when it is already on ``target_axis``;
        otherwise a new (H, W, T) float32 array, cropped and linearly resampled.

    Raises:
        ShapeError: no axis and C != T, or the axis does not cover ``target_axis``.
    """
    target = np.asarray(target_axis, dtype=np.float64).ravel()
    n = cube.shape[-1]
    if axis is None:
        if n != target.size:
            raise ShapeError(f"{_where(name)}has {n} channels, model expects {target.size} "
                             "(and the file has no wavenumber axis to resample from)")
        return cube
    axis = check_axis(axis, n, name)
    if axis.size == target.size and np.allclose(axis, target):
        return cube
    # Crop to the smallest source range bracketing the target so only needed
    # channels are read; resample checks the coverage.
    below = axis[axis <= target.min()]
    above = axis[axis >= target.max()]
    lo = below.max() if below.size else axis.min()
    hi = above.min() if above.size else axis.max()
    cube, axis = crop(cube, axis, lo, hi, name=name)
    return resample(cube, axis, target, name=name)

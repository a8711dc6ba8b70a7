"""The wavenumber axis every reader returns and every spectral step relies on, checked once."""

from __future__ import annotations

import numpy as np

from irpath.errors import InvalidValuesError, ShapeError


def check_axis(axis, n_channels: int | None = None, name="", *, monotonic: bool = True) -> np.ndarray:
    """Return ``axis`` as float64 (C,) after checking its length, values and order.

    Args:
        axis: (C,) wavenumbers (any shape that ravels to C values).
        n_channels: the cube's C, checked against ``len(axis)`` if given.
        name: the file or cube the axis belongs to, used in messages.
        monotonic: also require a strictly increasing or decreasing axis (resampling,
            cropping and band look-ups need it; a reader only stores the axis it found).

    Raises:
        ShapeError: wrong length, or (``monotonic``) not strictly monotonic.
        InvalidValuesError: empty, or NaN/Inf values.
    """
    where = f"{name}: " if str(name) else ""
    axis = np.asarray(axis, dtype=np.float64).ravel()
    if n_channels is not None and axis.size != n_channels:
        raise ShapeError(f"{where}wavenumber axis has {axis.size} values but the cube "
                         f"has {n_channels} channels")
    if axis.size == 0 or not np.isfinite(axis).all():
        raise InvalidValuesError(f"{where}wavenumber axis is empty or holds NaN/Inf")
    step = np.diff(axis)
    if monotonic and axis.size > 1 and not ((step > 0).all() or (step < 0).all()):
        raise ShapeError(f"{where}wavenumber axis is not strictly increasing or decreasing")
    return axis

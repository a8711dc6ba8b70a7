"""IR tiles resampled onto the model's wavenumber axis, as the training cache prepares spots.

:func:`ir_tile_preparer` returns the ``prepare`` callable of
:func:`irpath.inference.tiling.predict_tiled` for IR cubes: each raw tile is
brought onto the model's axis exactly as :func:`irpath.data.cache.prepare_spot`
+ the cache do (linearly resampled, NaN and invalid pixels 0), with interpolation
indices computed once per cube instead of per tile.
"""

from __future__ import annotations

import numpy as np

from irpath.errors import ShapeError
from irpath.spectra.axis import DEFAULT_AXIS, to_target_axis


def _interp_pairs(wavenumbers, target: np.ndarray, name: str):
    """``(lo, hi, w_lo, w_hi)`` with ``resampled[t] = x[lo[t]] * w_lo[t] + x[hi[t]] * w_hi[t]``,
    bit-identical to :func:`to_target_axis`, or None when that leaves the cube as is.

    The weights are read off ``to_target_axis`` applied to an identity "cube"
    (pixel c holds the unit spectrum e_c), so cropping, edge tolerance and
    float32 rounding are exactly those of :mod:`irpath.spectra.axis`.
    """
    c = target.size if wavenumbers is None else np.asarray(wavenumbers).size
    eye = np.eye(c, dtype=np.float32)[None]
    m = to_target_axis(eye, wavenumbers, target, name=name)
    if m is eye:
        return None
    m = np.asarray(m[0])  # (C, T): weight of source channel c in target channel t
    nz = m != 0
    if (nz.sum(axis=0) > 2).any():  # never for linear interpolation
        raise ShapeError(f"{name}: resampling is not a two-point interpolation")
    lo = nz.argmax(axis=0)
    hi = c - 1 - nz[::-1].argmax(axis=0)
    cols = np.arange(m.shape[1])
    w_lo = m[lo, cols]
    w_hi = np.where(hi != lo, m[hi, cols], 0).astype(np.float32)
    return _runs(lo), _runs(hi), w_lo, w_hi


def _runs(idx: np.ndarray) -> list[tuple[int, int, slice]]:
    """Cut a gather ``x[:, idx]`` into strided slices: ``[(t0, t1, slice), ...]`` with
    ``x[:, idx[t0:t1]] == x[:, slice]``. Near-uniform axes give a handful of runs,
    and slice copies are several times faster than a fancy-index gather."""
    runs, t0, n = [], 0, idx.size
    while t0 < n:
        t1, step = t0 + 1, (int(idx[t0 + 1] - idx[t0]) if t0 + 1 < n else 1)
        if step > 0:
            while t1 < n and idx[t1] - idx[t1 - 1] == step:
                t1 += 1
        runs.append((t0, t1, slice(int(idx[t0]), int(idx[t1 - 1]) + 1, step if step > 0 else 1)))
        t0 = t1
    return runs


def ir_tile_preparer(wavenumbers, target_axis=DEFAULT_AXIS, valid=None, *, name: str = "",
                     chunk: int = 2048):
    """A ``prepare`` for :func:`~irpath.inference.tiling.predict_tiled`: IR tiles as the cache has them.

    Each raw tile is cast to float32, linearly resampled from ``wavenumbers`` onto
    ``target_axis`` (values identical to :func:`irpath.spectra.axis.to_target_axis`),
    and NaN values and invalid pixels are set to 0, as
    :func:`irpath.data.cache.prepare_spot` followed by the cache's zeroing.

    Args:
        wavenumbers: (C,) the source axis (``Cube.wavenumbers``), or None when the
            channels already are ``target_axis``.
        target_axis: (T,) the model's axis.
        valid: (H, W) bool of the whole image (``Cube.valid``); None: a pixel is
            invalid if any of its raw values is NaN/Inf.
        name: the cube's file, named in errors.
        chunk: about this many pixels (whole tile rows) are read and resampled at a
            time, so temporaries stay small and in the CPU cache.

    Returns:
        ``prepare(raw (h, w, C), box (y0, y1, x0, x1)) -> (h, w, T) float32``.

    Raises:
        ShapeError: the axis does not cover ``target_axis`` (or has no axis and C != T).
    """
    target = np.asarray(target_axis, dtype=np.float64).ravel()
    pairs = _interp_pairs(wavenumbers, target, name)
    n_in = target.size if wavenumbers is None else np.asarray(wavenumbers).size

    def prepare(raw, box):
        y0, y1, x0, x1 = box
        if raw.ndim != 3 or raw.shape[-1] != n_in:
            raise ShapeError(f"{name}: tile of shape {raw.shape}, expected (h, w, {n_in})")
        h, w, _ = raw.shape
        out = np.empty((h, w, target.size), np.float32)
        ok = None if valid is None else np.asarray(valid[y0:y1, x0:x1], dtype=bool)
        if ok is None:
            ok = np.empty((h, w), bool)
        step = max(1, chunk // w)  # rows at a time: only one chunk of raw is ever copied
        for a in range(0, h, step):
            x = np.asarray(raw[a:a + step], dtype=np.float32)
            if valid is None:
                ok[a:a + step] = np.isfinite(x).all(axis=-1)
            part = out[a:a + step]
            if pairs is None:
                part[...] = x
                continue
            lo, hi, w_lo, w_hi = pairs
            t = np.empty_like(part)
            for t0, t1, sl in lo:
                part[..., t0:t1] = x[..., sl]
            part *= w_lo
            for t0, t1, sl in hi:
                t[..., t0:t1] = x[..., sl]
            t *= w_hi
            part += t  # the same float32 operations as resample: bit-identical
        np.nan_to_num(out, copy=False, nan=0.0)
        out[~ok] = 0.0
        return out
    return prepare

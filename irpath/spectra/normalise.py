"""Spectral normalisation: per-pixel vector norm and per-channel standardisation.

All functions take (H, W, C) cubes and optional (H, W) bool tissue masks and
return float32. Statistics accumulate in float64.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from irpath.errors import InvalidValuesError, ShapeError
from irpath.io.cube import row_blocks

#: Floor for per-channel standard deviations, so flat channels do not blow up.
MIN_STD = 1e-6


def _mask(mask, shape) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape[:2]):
        raise ShapeError(f"mask is {mask.shape} but the cube is {tuple(shape[:2])}")
    return mask


def vector_normalise(cube: np.ndarray, mask=None) -> np.ndarray:
    """Scale every pixel spectrum to unit Euclidean norm over C.

    Args:
        cube: (H, W, C) array.
        mask: (H, W) bool; pixels outside it are set to 0. None = all pixels.

    Returns:
        (H, W, C) float32; pixels with zero norm stay 0.
    """
    mask = _mask(mask, cube.shape)
    x = np.array(cube, dtype=np.float32)
    norm = np.sqrt(np.einsum("...c,...c->...", x, x, dtype=np.float64))
    scale = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
    if mask is not None:
        scale[~mask] = 0.0
    x *= scale[..., None].astype(np.float32)
    return x


def channel_stats(cubes: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over the tissue pixels of many cubes.

    Streams: each cube is read in row blocks and folded into running
    ``(count, mean, M2)`` with Chan et al.'s pairwise update, in float64, so the
    result equals the statistics of all tissue pixels concatenated.

    Args:
        cubes: iterable of ``(cube, mask)``: (H, W, C) arrays (memmaps fine) with
            (H, W) bool tissue masks, or None for all pixels.

    Returns:
        ``(mean, std)``, each (C,) float64; ``std`` is the population std (ddof 0).

    Raises:
        ShapeError: cubes differ in C, or a mask does not match its cube.
        InvalidValuesError: no tissue pixel at all.
    """
    count, mean, m2 = 0, None, None
    for cube, mask in cubes:
        mask = _mask(mask, cube.shape)
        if mean is not None and cube.shape[-1] != mean.size:
            raise ShapeError(f"cubes differ in channel count: {mean.size} vs {cube.shape[-1]}")
        for a, b in row_blocks(cube):
            block = np.asarray(cube[a:b], dtype=np.float64)
            px = block.reshape(-1, block.shape[-1]) if mask is None else block[mask[a:b]]
            n = px.shape[0]
            if n == 0:
                continue
            b_mean = px.mean(axis=0)
            b_m2 = ((px - b_mean) ** 2).sum(axis=0)
            if mean is None:
                count, mean, m2 = n, b_mean, b_m2
                continue
            total = count + n
            delta = b_mean - mean
            mean = mean + delta * (n / total)
            m2 = m2 + b_m2 + delta**2 * (count * n / total)
            count = total
    if mean is None:
        raise InvalidValuesError("channel_stats: no tissue pixels in any cube")
    return mean, np.sqrt(m2 / count)


def standardise(cube: np.ndarray, mean, std, mask=None) -> np.ndarray:
    """``(x - mean) / std`` per channel, with ``std`` floored at ``MIN_STD``.

    Args:
        cube: (H, W, C) array.
        mean, std: (C,) from :func:`channel_stats`.
        mask: (H, W) bool; pixels outside it are set to 0. None = all pixels.

    Returns:
        (H, W, C) float32.
    """
    mask = _mask(mask, cube.shape)
    mean = np.asarray(mean, dtype=np.float64).ravel()
    std = np.maximum(np.asarray(std, dtype=np.float64).ravel(), MIN_STD)
    if mean.size != cube.shape[-1] or std.size != cube.shape[-1]:
        raise ShapeError(f"mean/std have {mean.size}/{std.size} values but the cube has "
                         f"{cube.shape[-1]} channels")
    out = np.empty(cube.shape, dtype=np.float32)
    for a, b in row_blocks(cube):
        out[a:b] = (np.asarray(cube[a:b], dtype=np.float64) - mean) / std
    if mask is not None:
        out[~mask] = 0.0
    return out

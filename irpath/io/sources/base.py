"""The :class:`ImageSource` every lazy reader returns, and views of one of its levels.

An image source is a pyramid of (H_l, W_l, C) levels read a region at a time:
nothing but the requested window is ever loaded, so a 10^10-pixel slide or a
multi-GB mosaic opens instantly and costs the memory of the region read.
"""

from __future__ import annotations

import math

import numpy as np

from irpath.errors import ConfigError, ShapeError


class ImageSource:
    """A lazily read (H, W, C) image with pyramid levels.

    Subclasses set the attributes below and implement :meth:`_read`.

    Attributes:
        path: the file.
        vendor: the format or scanner vendor ("envi", "aperio", "ome-tiff", ...).
        level_shapes: ((H_0, W_0), (H_1, W_1), ...) level 0 first (full resolution).
        downsamples: level-0 pixels per level-l pixel, per level (level 0: 1.0).
        mpp: level-0 micrometres per pixel, or None when the file does not say.
        channels: C.
        wavenumbers: (C,) cm^-1 axis (IR), or None (RGB, or an IR file without one).
        modality: "ir" or "rgb".
        dtype: the dtype :meth:`read_region` returns.
        ignore_value: ENVI ``data ignore value`` or None.
    """

    path: str = ""
    vendor: str = ""
    level_shapes: tuple = ()
    downsamples: tuple = (1.0,)
    mpp: float | None = None
    channels: int = 0
    wavenumbers: np.ndarray | None = None
    modality: str = "ir"
    dtype: np.dtype = np.dtype(np.float32)
    ignore_value: float | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of level 0."""
        return (*self.level_shapes[0], self.channels)

    @property
    def levels(self) -> int:
        return len(self.level_shapes)

    def level_mpp(self, level: int) -> float | None:
        """Micrometres per pixel of ``level`` (None if the file has no pixel size)."""
        return None if self.mpp is None else self.mpp * self.downsamples[level]

    def read_region(self, level: int, y: int, x: int, h: int, w: int) -> np.ndarray:
        """The (h, w, C) window at row ``y``, column ``x`` of ``level`` (level coordinates).

        Raises:
            ShapeError: the level does not exist or the window leaves the level.
        """
        if not 0 <= level < self.levels:
            raise ShapeError(f"{self.path}: no level {level} (the image has {self.levels})")
        lh, lw = self.level_shapes[level]
        if h < 1 or w < 1 or y < 0 or x < 0 or y + h > lh or x + w > lw:
            raise ShapeError(f"{self.path}: region y={y} x={x} h={h} w={w} leaves level {level} "
                             f"({lh}x{lw})")
        return self._read(int(level), int(y), int(x), int(h), int(w))

    def _read(self, level: int, y: int, x: int, h: int, w: int) -> np.ndarray:
        raise NotImplementedError

    def level(self, level: int = 0) -> "LevelView":
        """An (H_l, W_l, C) array-like of one level (basic slicing reads a region)."""
        if not 0 <= level < self.levels:
            raise ShapeError(f"{self.path}: no level {level} (the image has {self.levels})")
        return LevelView(self, level)

    def nearest_level(self, mpp: float) -> int:
        """The coarsest level not coarser than ``mpp`` (1 % slack); level 0 if all are.

        Reading that level and resampling down to ``mpp`` never upsamples.
        """
        if self.mpp is None:
            raise ConfigError(f"{self.path}: the file records no pixel size (µm/px); "
                              "use --level instead of --mpp")
        best = 0
        for lvl in range(self.levels):
            if self.level_mpp(lvl) <= mpp * 1.01:
                best = lvl if self.level_mpp(lvl) >= self.level_mpp(best) else best
        return best

    def thumbnail_level(self, max_side: int = 2048) -> int:
        """The finest level whose longer side is <= ``max_side`` (else the coarsest)."""
        for lvl in range(self.levels):
            if max(self.level_shapes[lvl]) <= max_side:
                return lvl
        return self.levels - 1

    def close(self) -> None:
        """Release file handles (the source must not be read afterwards)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def summary(self) -> dict:
        """Vendor, levels, dimensions and µm/px, as ``irpath inspect`` prints them."""
        return {"vendor": self.vendor, "levels": self.levels,
                "dimensions": [list(s) for s in self.level_shapes],
                "downsamples": [round(float(d), 4) for d in self.downsamples],
                "mpp": None if self.mpp is None else round(float(self.mpp), 6),
                "channels": self.channels, "modality": self.modality}


def _index(key, size: int) -> tuple[int, int]:
    if isinstance(key, int):
        key = slice(key, key + 1)
    if not isinstance(key, slice) or key.step not in (None, 1):
        raise ShapeError(f"only contiguous slices read a region, got {key!r}")
    a, b, _ = key.indices(size)
    return a, max(a, b)


class LevelView:
    """One level of an :class:`ImageSource` as an (H, W, C) array-like.

    ``view[y0:y1, x0:x1]`` reads that region (``np.asarray(view)`` reads the whole
    level), so :func:`irpath.inference.tiling.predict_tiled` and the scanners that
    take memory maps read it a tile at a time.
    """

    def __init__(self, source: ImageSource, level: int):
        self.source, self.level_index = source, level
        self.shape = (*source.level_shapes[level], source.channels)
        self.dtype = source.dtype
        self.ndim = 3

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        ys = key[0] if len(key) > 0 else slice(None)
        xs = key[1] if len(key) > 1 else slice(None)
        (y0, y1), (x0, x1) = _index(ys, self.shape[0]), _index(xs, self.shape[1])
        out = self.source.read_region(self.level_index, y0, x0, y1 - y0, x1 - x0)
        return out[(slice(None), slice(None)) + key[2:]] if len(key) > 2 else out

    def __array__(self, dtype=None, copy=None):
        out = self[:, :]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __len__(self):
        return self.shape[0]


class ResampledView:
    """An (H', W', C) array-like of a level resampled by ``factor`` (source px per output px).

    Output pixel (i, j) is the bilinear value at source coordinates
    ``((i + 0.5) * factor - 0.5, (j + 0.5) * factor - 0.5)``, read from the region
    around it, so a tile's values do not depend on where the tile starts: tiled and
    whole reads agree exactly.
    """

    def __init__(self, view, factor: float):
        if not (math.isfinite(factor) and factor > 0):
            raise ConfigError(f"resampling factor must be > 0, got {factor}")
        self.view, self.factor = view, float(factor)
        h, w, c = view.shape
        self.shape = (max(1, int(round(h / factor))), max(1, int(round(w / factor))), c)
        self.dtype = np.dtype(np.float32)
        self.ndim = 3

    def _coords(self, a: int, b: int, size: int):
        c = (np.arange(a, b) + 0.5) * self.factor - 0.5
        c = np.clip(c, 0, size - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        return lo, hi, (c - lo).astype(np.float32)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        (y0, y1) = _index(key[0] if key else slice(None), self.shape[0])
        (x0, x1) = _index(key[1] if len(key) > 1 else slice(None), self.shape[1])
        h, w, _ = self.view.shape
        ylo, yhi, fy = self._coords(y0, y1, h)
        xlo, xhi, fx = self._coords(x0, x1, w)
        r0, r1, c0, c1 = ylo.min(), yhi.max() + 1, xlo.min(), xhi.max() + 1
        region = np.asarray(self.view[r0:r1, c0:c1], np.float32)
        ylo, yhi, xlo, xhi = ylo - r0, yhi - r0, xlo - c0, xhi - c0
        top = region[ylo] * (1 - fy)[:, None, None] + region[yhi] * fy[:, None, None]
        out = top[:, xlo] * (1 - fx)[None, :, None] + top[:, xhi] * fx[None, :, None]
        return out[(slice(None), slice(None)) + key[2:]] if len(key) > 2 else out

    def __array__(self, dtype=None, copy=None):
        out = self[:, :]
        return out if dtype is None else out.astype(dtype, copy=False)

"""OME-TIFF and pyramidal TIFF (SubIFDs or one IFD per level) through tifffile + zarr.

OpenSlide does not read OME-TIFF pyramids; tifffile exposes every level of a
series as a zarr array, which reads only the tiles a region touches.
"""

from __future__ import annotations

import re

import numpy as np

from irpath.errors import DataFileError, ShapeError
from irpath.io.sources.base import ImageSource


def _mpp(tif) -> float | None:
    """Level-0 µm/px from the OME ``PhysicalSizeX`` (in µm unless stated), else the
    TIFF resolution tags."""
    if tif.is_ome and tif.ome_metadata:
        m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', tif.ome_metadata)
        unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
        scale = {"nm": 1e-3, "mm": 1e3, "cm": 1e4}.get(unit.group(1) if unit else "µm", 1.0)
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) * scale
    page = tif.pages[0]
    try:
        unit = page.tags.get("ResolutionUnit")
        if unit is None or int(unit.value) == 1:  # no absolute unit
            return None
        px_per_um = page.get_resolution("micrometer")[0]
    except Exception:  # malformed or missing tags: no pixel size
        return None
    return 1.0 / px_per_um if px_per_um and px_per_um > 0 else None


class TiffSource(ImageSource):
    """Every level of a TIFF's first series, read through zarr a region at a time.

    Axes ``YX`` (grey, C = 1), ``YXS`` (RGB samples) and ``CYX`` / ``SYX`` (planes)
    are read as (H, W, C).
    """

    def __init__(self, path):
        import tifffile
        import zarr

        try:
            self.tif = tifffile.TiffFile(path)
            series = self.tif.series[0]
            levels = series.levels
            self.axes = series.axes.upper()
            self.arrays = [zarr.open(series.aszarr(level=i), mode="r") for i in range(len(levels))]
        except (tifffile.TiffFileError, ValueError, KeyError, IndexError) as exc:
            raise DataFileError(f"{path}: cannot read TIFF: {exc}") from None
        axes = self.axes.replace("Q", "")
        if axes not in ("YX", "YXS", "CYX", "SYX", "YXC"):
            raise ShapeError(f"{path}: TIFF axes {series.axes} are not an (H, W, C) image")
        self.layout = axes
        shapes = []
        for a in self.arrays:
            s = a.shape[-len(axes):]
            shapes.append((s[axes.index("Y")], s[axes.index("X")]))
        c_ax = next((i for i, ch in enumerate(axes) if ch in "SC"), None)
        self.channels = 1 if c_ax is None else int(self.arrays[0].shape[-len(axes):][c_ax])
        self.path, self.level_shapes = str(path), tuple(shapes)
        self.downsamples = tuple(shapes[0][1] / s[1] for s in shapes)
        self.vendor = "ome-tiff" if self.tif.is_ome else "tiff"
        self.mpp = _mpp(self.tif)
        self.dtype = np.dtype(self.arrays[0].dtype)
        self.modality = "rgb" if self.channels == 3 and self.dtype == np.uint8 else "ir"

    def _read(self, level, y, x, h, w):
        a = self.arrays[level]
        lead = (0,) * (a.ndim - len(self.layout))
        if self.layout in ("YX",):
            return np.asarray(a[lead + (slice(y, y + h), slice(x, x + w))])[..., None]
        if self.layout in ("YXS", "YXC"):
            return np.asarray(a[lead + (slice(y, y + h), slice(x, x + w), slice(None))])
        block = np.asarray(a[lead + (slice(None), slice(y, y + h), slice(x, x + w))])
        return np.ascontiguousarray(block.transpose(1, 2, 0))

    def close(self):
        self.tif.close()


def is_pyramid_tiff(path) -> bool:
    """True for an OME-TIFF or a tiled / multi-level TIFF (read by :class:`TiffSource`)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return bool(tif.is_ome or len(series.levels) > 1 or tif.pages[0].is_tiled)
    except Exception:  # not a TIFF tifffile reads: leave it to the other readers
        return False

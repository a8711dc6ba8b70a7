"""Pyramidal, tiled, compressed OME-TIFF maps with their physical pixel size.

Readable by QuPath, napari and tifffile (and :func:`irpath.io.sources.open_image`).
Levels are written tile by tile from the (memory-mapped) map, so a slide's map
is never copied whole; each level halves the previous one (nearest pixel, so
class maps keep their classes) until its longest side is <= :data:`SMALLEST`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.io.paths import atomic_path

TILE = 256
#: The pyramid goes down until the longest side is at most this.
SMALLEST = 128


def _tiles(level: np.ndarray, tile: int):
    """Yield the (tile, tile) blocks of a 2-D ``level`` in row-major order, zero-padded."""
    h, w = level.shape[:2]
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            block = np.zeros((tile, tile) + level.shape[2:], level.dtype)
            part = np.asarray(level[y:y + tile, x:x + tile])
            block[:part.shape[0], :part.shape[1]] = part
            yield block


def write_ome_pyramid(path, array, *, mpp: float | None, tile: int = TILE, compression: str = "zlib",
                      name: str = "map") -> list[tuple[int, int]]:
    """Write a (H, W) map as a pyramidal OME-TIFF (written to a temporary name, then renamed).

    Args:
        path: ``<name>_<map>.ome.tif``.
        array: (H, W) array-like (ndarray or np.memmap), any numeric dtype.
        mpp: µm per pixel of ``array`` (recorded as ``PhysicalSizeX/Y``), or None.
        tile: tile side in pixels.
        compression: a tifffile compression (``"zlib"`` is lossless).
        name: the OME image name.

    Returns:
        The (H, W) of every level written.
    """
    import tifffile

    path = Path(path)
    shapes = [tuple(array.shape[:2])]
    while max(shapes[-1]) > SMALLEST:
        shapes.append(((shapes[-1][0] + 1) // 2, (shapes[-1][1] + 1) // 2))
    meta = {"axes": "YX", "Name": name}
    res = {}
    if mpp:
        meta.update(PhysicalSizeX=float(mpp), PhysicalSizeY=float(mpp), PhysicalSizeXUnit="µm",
                    PhysicalSizeYUnit="µm")
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp, ome=True, bigtiff=True) as tw:
        for i, shape in enumerate(shapes):
            level = array[::2 ** i, ::2 ** i] if i else array
            if mpp:
                res = {"resolution": (1e4 / (mpp * 2 ** i),) * 2, "resolutionunit": "CENTIMETER"}
            tw.write(_tiles(level, tile), shape=shape, dtype=array.dtype, tile=(tile, tile),
                     compression=compression, subifds=len(shapes) - 1 if i == 0 else None,
                     subfiletype=1 if i else 0, metadata=meta if i == 0 else None, **res)
    return shapes

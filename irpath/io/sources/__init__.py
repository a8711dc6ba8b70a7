"""One lazy image source for every format: :func:`open_image`.

=====================================  ==========================================
ENVI ``.hdr`` (BSQ, BIL, BIP)          memory map in the file's interleave
OME-TIFF, pyramidal / tiled TIFF       tifffile + zarr, every level
``.svs .ndpi .mrxs .scn .vms .bif``    OpenSlide (also generic tiled TIFF)
HDF5, ``.npy``, Agilent, ``.mat`` ...  :func:`irpath.io.read_cube` (lazily where it can)
small PNG / JPEG / BMP / plain TIFF    Pillow (through ``read_cube``)
=====================================  ==========================================

Every source has ``shape``, ``levels``, ``downsamples``, ``mpp``, the channel
axis (``wavenumbers``, or RGB) and ``read_region(level, y, x, h, w)`` -> (h, w, C).
"""

from __future__ import annotations

from pathlib import Path

from irpath.errors import MissingFileError
from irpath.io.sources.arrays import ArraySource, EnviSource, cube_source
from irpath.io.sources.base import ImageSource, LevelView, ResampledView
from irpath.io.sources.slide import SLIDE_SUFFIXES, SlideSource, is_slide
from irpath.io.sources.tiff import TiffSource, is_pyramid_tiff

__all__ = ["ArraySource", "EnviSource", "ImageSource", "LevelView", "ResampledView", "SlideSource",
           "TiffSource", "open_image", "is_big_image"]

_TIFF = (".tif", ".tiff")


def open_image(path, **kwargs) -> ImageSource:
    """Open any supported image lazily.

    Args:
        path: the file (ENVI: the ``.hdr`` or its data file).
        kwargs: ``dataset`` / ``axis_key`` for HDF5, ``.npz`` and ``.mat`` files.

    Returns:
        An :class:`ImageSource`; close it (or use it as a context manager) when done.

    Raises:
        IrpathError subclasses naming ``path``.
    """
    from irpath.io import _envi_header_for, read_cube

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if not path.is_dir():
        header = path if suffix == ".hdr" else (_envi_header_for(path) if suffix in
                                                 (".dat", ".img", ".raw", ".bsq", ".bil", ".bip", "") else None)
        if header is not None:
            read_cube(header, mmap=True)  # the readers' checks and one-line errors
            return EnviSource(header)
        if suffix in _TIFF and path.name.lower().endswith((".ome.tif", ".ome.tiff")):
            return TiffSource(path)
        if suffix in SLIDE_SUFFIXES and suffix not in _TIFF:
            return SlideSource(path)
        if suffix in _TIFF and is_pyramid_tiff(path):
            return SlideSource(path) if _openslide_levels(path) else TiffSource(path)
    return cube_source(path, **kwargs)


def _openslide_levels(path) -> bool:
    """True when OpenSlide reads a (non-OME) TIFF as a slide with its pyramid."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if tif.is_ome or tif.pages[0].samplesperpixel != 3 or tif.pages[0].dtype.itemsize != 1:
            return False
    return is_slide(path)


def is_big_image(path) -> bool:
    """True for files :func:`open_image` reads as a slide or a pyramid (not an array)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SLIDE_SUFFIXES and suffix not in _TIFF:
        return True
    return suffix in _TIFF and is_pyramid_tiff(path)

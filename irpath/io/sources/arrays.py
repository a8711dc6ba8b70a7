"""Sources over arrays: ENVI files memory-mapped in their own interleave, and any
cube :func:`irpath.io.read_cube` opens lazily (HDF5, ``.npy``, Agilent, ...)."""

from __future__ import annotations

import numpy as np

from irpath.io.cube import release_pages
from irpath.io.sources.base import ImageSource

#: File axes of each ENVI interleave, as (lines, samples, bands) positions.
_ENVI_SHAPES = {"bsq": ("bands", "lines", "samples"), "bil": ("lines", "bands", "samples"),
                "bip": ("lines", "samples", "bands")}


#: File bytes an ENVI region read maps at a time before unmapping them, and the bytes
#: the kernel may map per contiguous run touched beyond the run itself (fault-around
#: and large page-cache folios: about 4 MB per band measured on a 2048-wide BSQ file,
#: where a 224-row read of all 436 bands at once mapped 1.9 GB).
MAPPED_BYTES = 64 * 2**20
MAP_GRANULE = 4 * 2**20


class ArraySource(ImageSource):
    """One level over an (H, W, C) array-like (ndarray, np.memmap, h5py dataset)."""

    def __init__(self, path, data, *, wavenumbers=None, vendor: str = "array", modality: str = "ir",
                 ignore_value=None, mpp: float | None = None):
        self.path, self.data, self.vendor, self.modality = str(path), data, vendor, modality
        self.level_shapes = ((int(data.shape[0]), int(data.shape[1])),)
        self.downsamples = (1.0,)
        self.channels = int(data.shape[2])
        self.wavenumbers, self.ignore_value, self.mpp = wavenumbers, ignore_value, mpp
        self.dtype = np.dtype(data.dtype)

    def _read(self, level, y, x, h, w):
        out = np.array(self.data[y:y + h, x:x + w])
        release_pages(self.data)
        return out


class EnviSource(ImageSource):
    """An ENVI cube memory-mapped in the file's own axis order (BSQ, BIL or BIP).

    A region read touches only the region's rows: for BSQ, rows y..y+h of every
    band; for BIL and BIP, lines y..y+h (samples x..x+w of each). It copies them a
    few bands (BSQ) or lines (BIL, BIP) at a time straight into the (h, w, C) result,
    unmapping the pages of each chunk before the next, so besides the result the
    read maps at most about :data:`MAPPED_BYTES` of the file.
    """

    def __init__(self, path):
        from irpath.io.envi import open_layout

        layout, data_file = open_layout(path)
        dims = {"lines": layout.lines, "samples": layout.samples, "bands": layout.bands}
        order = _ENVI_SHAPES[layout.interleave]
        dtype = layout.dtype.newbyteorder(">" if layout.byte_order else "<")
        self.raw = np.memmap(data_file, dtype=dtype, mode="r", offset=layout.offset,
                             shape=tuple(dims[a] for a in order))
        self.interleave = layout.interleave
        self.path, self.vendor, self.modality = str(path), f"envi-{layout.interleave}", "ir"
        self.level_shapes = ((layout.lines, layout.samples),)
        self.channels = layout.bands
        self.wavenumbers, self.ignore_value = layout.wavenumbers, layout.ignore_value
        self.dtype = layout.dtype

    def _read(self, level, y, x, h, w):
        raw, out = self.raw, np.empty((h, w, self.channels), self.dtype)
        if self.interleave == "bsq":  # (C, H, W): rows y..y+h of each band, a few bands at a time
            span, n = h * raw.shape[2], raw.shape[0]
        else:  # BIL (H, C, W) and BIP (H, W, C): a few lines at a time
            span, n = raw.shape[1] * raw.shape[2], h
        step = max(1, MAPPED_BYTES // (span * raw.dtype.itemsize + MAP_GRANULE))
        for a in range(0, n, step):
            b = min(n, a + step)
            if self.interleave == "bsq":
                out[..., a:b] = raw[a:b, y:y + h, x:x + w].transpose(1, 2, 0)
            elif self.interleave == "bil":  # copy the (line, band) runs of w samples, then transpose
                out[a:b] = np.array(raw[y + a:y + b, :, x:x + w]).transpose(0, 2, 1)
            else:
                out[a:b] = raw[y + a:y + b, x:x + w]
            release_pages(raw)  # unmap each chunk's pages: RSS is set by the chunk, not the region
        return out

    def close(self):
        mm = getattr(self.raw, "_mmap", None)
        if mm is not None and not mm.closed:
            mm.close()


def cube_source(path, **kwargs) -> ArraySource:
    """An :class:`ArraySource` over ``read_cube(path, mmap=True)`` (lazy where the reader is)."""
    from pathlib import Path

    from irpath.io import RGB_SUFFIXES, read_cube

    cube = read_cube(path, mmap=True, **kwargs)
    suffix = Path(path).suffix.lower()
    rgb = suffix in RGB_SUFFIXES
    vendor = {".npy": "numpy", ".npz": "numpy", ".mat": "matlab"}.get(suffix, suffix.lstrip("."))
    if suffix in (".h5", ".hdf5", ".he5", ".hdf"):
        vendor = "hdf5"
    elif suffix in (".seq", ".dmt", ".dms", ".dmd", ".dat"):
        vendor = "agilent"
    return ArraySource(path, cube.data, wavenumbers=cube.wavenumbers, vendor="pillow" if rgb else vendor,
                       modality="rgb" if rgb else "ir", ignore_value=cube.ignore_value)

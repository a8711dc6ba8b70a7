"""Whole-slide images through OpenSlide (svs, ndpi, mrxs, scn, vms, bif, generic tiled TIFF)."""

from __future__ import annotations

import numpy as np

from irpath.errors import DataFileError
from irpath.io.sources.base import ImageSource

#: Suffixes only OpenSlide reads.
SLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif", ".svslide", ".tif",
                  ".tiff")


class SlideSource(ImageSource):
    """A slide's levels as (H, W, 3) uint8 RGB; transparent pixels (outside the
    scanned area) are white, as glass is."""

    def __init__(self, path):
        import openslide

        try:
            self.slide = openslide.OpenSlide(str(path))
        except (openslide.OpenSlideError, OSError) as exc:
            raise DataFileError(f"{path}: cannot open slide: {exc}") from None
        props = self.slide.properties
        self.path, self.modality, self.channels = str(path), "rgb", 3
        self.vendor = props.get(openslide.PROPERTY_NAME_VENDOR, "openslide")
        self.level_shapes = tuple((h, w) for w, h in self.slide.level_dimensions)
        self.downsamples = tuple(float(d) for d in self.slide.level_downsamples)
        mpp = props.get(openslide.PROPERTY_NAME_MPP_X)
        self.mpp = float(mpp) if mpp not in (None, "") and float(mpp) > 0 else None
        self.dtype = np.dtype(np.uint8)

    def _read(self, level, y, x, h, w):
        d = self.downsamples[level]  # OpenSlide takes the location in level-0 pixels
        rgba = np.asarray(self.slide.read_region((int(round(x * d)), int(round(y * d))), level, (w, h)))
        rgb = rgba[..., :3].copy()
        rgb[rgba[..., 3] == 0] = 255
        return rgb

    def close(self):
        self.slide.close()


def is_slide(path) -> bool:
    """True when OpenSlide recognises the file."""
    import openslide

    try:
        return openslide.OpenSlide.detect_format(str(path)) is not None
    except Exception:  # unreadable: the caller's reader reports it
        return False

"""RGB tiles (H&E and other stains) from PNG, JPEG or TIFF files, through Pillow."""

from __future__ import annotations

import numpy as np

from irpath.errors import DataFileError
from irpath.io.cube import Cube, make_cube

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L")


def read_rgb(path) -> Cube:
    """Read an image as an (H, W, 3) float32 cube with values in [0, 255].

    Grayscale, palette, RGBA and CMYK images are converted to RGB (alpha is
    dropped); 16-bit grayscale is scaled to [0, 255]. The cube has no axis.

    Raises:
        DataFileError: the file is not an image Pillow can decode.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in _SIXTEEN_BIT:
                gray = np.asarray(im, dtype=np.float32) / 257.0
                rgb = np.repeat(gray[..., None], 3, axis=-1)
            else:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    except Exception as exc:  # Pillow raises many types on corrupt files
        raise DataFileError(f"{path}: cannot read image: {exc}") from None
    return make_cube(path, rgb)

"""Colour-coded label images: red = cancer, green = stroma, black = background.

The VGG-FCN data set (Abdulhamid, Sec. 4.1) stores its labels as RGB images
with three colours. Decoding assigns every pixel the *nearest* palette colour,
so JPEG-compressed labels (ringing, chroma bleeding at region edges) still
decode; a pixel farther than ``max_distance`` from all three colours is not
label noise but a wrong file, and is an error.

Class order (used by the models, losses and metrics of this method):
``CANCER = 0``, ``STROMA = 1``, ``BACKGROUND = 2``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.errors import InvalidValuesError, ShapeError

CANCER, STROMA, BACKGROUND = 0, 1, 2
CLASS_NAMES = ("cancer", "stroma", "background")
FCN_PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 0]], dtype=np.uint8)
FCN_PALETTE.setflags(write=False)

# Euclidean RGB distance. JPEG keeps luma at full resolution but averages
# chroma over 2x2 blocks, so along red/green (cancer/stroma) borders it makes
# yellowish greys such as (171, 173, 66), up to ~200 from every palette colour
# (measured at quality 50-90). 215 accepts those yet rejects what a wrong file
# holds: white (360), blue, yellow, cyan, magenta (>= 255) and greys from
# (128, 128, 128) up (>= 221). It cannot catch subtle shade errors.
DEFAULT_MAX_DISTANCE = 215.0


def _palette(palette) -> np.ndarray:
    palette = np.asarray(palette, dtype=np.float32)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) < 1:
        raise ValueError(f"palette must be (K, 3) RGB colours, got shape {palette.shape}")
    return palette


def decode_colour_labels(rgb, palette=FCN_PALETTE, *, max_distance: float = DEFAULT_MAX_DISTANCE,
                         path=None) -> np.ndarray:
    """Map each pixel to the index of its nearest palette colour.

    Args:
        rgb: (H, W, 3) image, values in [0, 255] (any numeric dtype).
        palette: (K, 3) colours; row k is class k. Default: :data:`FCN_PALETTE`.
        max_distance: largest Euclidean RGB distance to the nearest colour that
            is still accepted; ``None`` or ``inf`` accepts everything.
        path: the file the image came from, named in error messages.

    Returns:
        (H, W) int32 class indices.

    Raises:
        ShapeError: ``rgb`` is not (H, W, 3).
        InvalidValuesError: some pixels are farther than ``max_distance`` from
            every palette colour (the message gives their count and an example).
    """
    where = str(path) if path is not None else "label image"
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ShapeError(f"{where}: expected an (H, W, 3) RGB label image, got shape {rgb.shape}")
    colours = _palette(palette)
    pixels = rgb.astype(np.float32)
    d2 = np.stack([np.sum((pixels - c) ** 2, axis=-1) for c in colours], axis=-1)  # (H, W, K)
    classes = np.argmin(d2, axis=-1).astype(np.int32)
    if max_distance is not None and np.isfinite(max_distance):
        nearest = np.sqrt(np.take_along_axis(d2, classes[..., None], axis=-1)[..., 0])
        bad = nearest > max_distance
        n_bad = int(bad.sum())
        if n_bad:
            y, x = (int(v[0]) for v in np.nonzero(bad))
            example = tuple(int(round(v)) for v in rgb[y, x])
            raise InvalidValuesError(
                f"{where}: {n_bad} pixel(s) have a colour farther than {max_distance:g} from every "
                f"label colour {[tuple(int(v) for v in c) for c in colours]}, e.g. {example} at "
                f"row {y}, column {x}")
    return classes


def encode_colour_labels(classes, palette=FCN_PALETTE) -> np.ndarray:
    """Inverse of :func:`decode_colour_labels`: (H, W) class indices -> (H, W, 3) uint8 RGB.

    Raises:
        InvalidValuesError: a class index is outside ``[0, K)``.
    """
    classes = np.asarray(classes)
    colours = np.clip(np.rint(_palette(palette)), 0, 255).astype(np.uint8)
    if classes.size and (classes.min() < 0 or classes.max() >= len(colours)):
        raise InvalidValuesError(
            f"class indices must lie in [0, {len(colours)}), got {classes.min()}..{classes.max()}")
    return colours[classes.astype(np.intp)]


def read_colour_labels(path, palette=FCN_PALETTE, *,
                       max_distance: float = DEFAULT_MAX_DISTANCE) -> np.ndarray:
    """Read a colour-coded label image (PNG, JPEG, TIFF) as (H, W) int32 classes.

    Raises:
        MissingFileError: ``path`` does not exist.
        DataFileError: the file is not a readable image.
        InvalidValuesError: colours far from the palette (see :func:`decode_colour_labels`).
    """
    from irpath.errors import MissingFileError
    from irpath.io.rgb import read_rgb

    if not Path(path).is_file():
        raise MissingFileError(f"{path}: label image not found")
    return decode_colour_labels(read_rgb(path).data, palette, max_distance=max_distance, path=path)


def write_colour_labels(path, classes, palette=FCN_PALETTE, **save_kwargs) -> Path:
    """Write (H, W) class indices as a colour-coded image (format from the suffix)."""
    from PIL import Image

    from irpath.io.paths import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # the temporary keeps the suffix PIL reads the format from
        Image.fromarray(encode_colour_labels(classes, palette)).save(tmp, **save_kwargs)
    return path

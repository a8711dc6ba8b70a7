"""Binary masks (ground-truth regions, tissue masks) from PNG/TIFF/NPY files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.errors import DataFileError, MissingFileError, ShapeError, UnsupportedFormatError

MASK_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".bmp")


def read_mask(path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as an (H, W) bool array: nonzero = inside the region.

    Args:
        path: a PNG/TIFF/BMP image (any channel nonzero counts) or an ``.npy`` array.
        shape: the (H, W) it must have (the cube's), checked if given.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in MASK_SUFFIXES:
        raise UnsupportedFormatError(f"{path}: unsupported mask type {suffix!r}; expected one of "
                                     + " ".join(MASK_SUFFIXES))
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            from PIL import Image
            with Image.open(path) as im:
                arr = np.asarray(im)
    except Exception as exc:  # corrupt image / npy: report, don't trace
        raise DataFileError(f"{path}: cannot read mask: {exc}") from None
    if arr.ndim == 3:
        arr = (arr != 0).any(axis=-1)
    if arr.ndim != 2:
        raise ShapeError(f"{path}: a mask must be 2-D (H, W), got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataFileError(f"{path}: mask contains NaN/Inf")
    mask = arr != 0
    if shape is not None and tuple(mask.shape) != tuple(shape[:2]):
        raise ShapeError(f"{path}: mask is {mask.shape[0]}x{mask.shape[1]} but its cube is "
                         f"{shape[0]}x{shape[1]}")
    return mask

"""Binary masks (ground-truth regions, tissue masks) from PNG/TIFF/NPY files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.errors import (DataFileError, InvalidValuesError, MissingFileError, ShapeError,
                           UnsupportedFormatError)

MASK_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".bmp")


def read_mask(path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary mask as an (H, W) bool array: nonzero = inside the region.

    A mask with more than one nonzero value (a class or instance label image) is
    refused rather than collapsed; label images are read by
    :mod:`irpath.io.labels`.

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
        arr = (arr != 0).any(axis=-1).astype(np.uint8)
    if arr.ndim != 2:
        raise ShapeError(f"{path}: a mask must be 2-D (H, W), got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataFileError(f"{path}: mask contains NaN/Inf")
    values = np.unique(arr)
    if values.size > 2 or (values.size == 2 and values[0] != 0):
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (" ..." if values.size > 5 else "")
        raise InvalidValuesError(f"{path}: a binary mask holds 0 and one other value, but this one holds "
                                 f"{values.size} values ({shown}); class or instance label images are "
                                 "read by the methods that use them")
    mask = arr != 0
    if shape is not None and tuple(mask.shape) != tuple(shape[:2]):
        raise ShapeError(f"{path}: mask is {mask.shape[0]}x{mask.shape[1]} but its cube is "
                         f"{shape[0]}x{shape[1]}")
    return mask

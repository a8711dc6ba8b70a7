"""One function that reads an image as a model sees it, for every modality.

The training cache, ``evaluate``, ``predict`` and ``inspect`` all call
:func:`prepare_image`, so a spot gets the same data, tissue mask and zeroed
pixels everywhere.

* **IR** (``modality="ir"``): the cube's spectra are checked, it is resampled
  onto the model's wavenumber axis, the tissue mask is taken on the amide I band
  (or read from a tissue file), and NaN / invalid pixels are set to 0.
* **RGB** (``modality="rgb"``): the image is read as float32 pixel values in
  [0, 255] (grey images become three equal channels), background is found as
  bright, low-saturation pixels, and an optional Reinhard stain normalisation
  maps its colour statistics onto a reference.

With ``lazy=True`` (IR) nothing is loaded: ``data`` is None, ``source`` is the
memory-mapped raw cube and ``tile_prepare`` prepares one tile of it at a time, for
images larger than memory (:mod:`irpath.inference.tiling`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, InvalidValuesError, ShapeError


@dataclasses.dataclass(eq=False)
class PreparedImage:
    """An image ready for a model.

    Attributes:
        path: the file it came from.
        data: (H, W, C_in) float32 model input, or None when ``lazy``.
        source: (H, W, C) array-like to read tiles from: ``data``, or the raw
            memory-mapped cube when ``lazy``.
        tile_prepare: None, or ``(raw tile, (y0, y1, x0, x1)) -> (h, w, C_in)`` float32
            that prepares a tile of ``source`` (see :func:`irpath.inference.tiling.predict_tiled`).
        tissue: (H, W) bool: tissue (IR) or non-background (RGB) pixels.
        display: (H, W) float32 grey image (IR: the amide I band) or (H, W, 3) in [0, 1].
    """

    path: Path
    data: np.ndarray | None
    source: object
    tile_prepare: object
    tissue: np.ndarray
    display: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.tissue.shape)


def _prepare_ir(path, axis, tissue_file, lazy: bool) -> PreparedImage:
    from irpath.data.cache import prepare_spot_array
    from irpath.io import read_cube
    from irpath.viz.plots import amide_image

    if axis is None:
        raise ConfigError("an IR method needs a wavenumber axis")
    target = np.asarray(axis, np.float64)
    if lazy:
        from irpath.spectra import check_spectra, tissue_mask
        from irpath.spectra.mask import band_tissue_mask, spans_amide_band

        cube = read_cube(path, mmap=True)
        source = scan = cube.data
        if Path(path).suffix.lower() == ".hdr":  # region reads in the file's interleave, pages unmapped
            from irpath.io.cube import validity_mask
            from irpath.io.sources import EnviSource

            source = scan = EnviSource(path).level(0)  # a BSQ memmap scan would map ~4 MB per band
            cube = dataclasses.replace(cube, _valid=validity_mask(scan, cube.ignore_value))
        check_spectra(scan, cube.valid, name=str(path))
        from irpath.data.ir_resample import ir_tile_preparer

        tile_prepare = ir_tile_preparer(cube.wavenumbers, target, cube.valid, name=str(path))
        wn = cube.wavenumbers if cube.wavenumbers is not None else target
        if tissue_file is not None:
            from irpath.io import read_mask

            tissue = read_mask(tissue_file, cube.shape[:2]) & cube.valid
        elif spans_amide_band(wn):  # the low-cost read: the amide I band only
            tissue = band_tissue_mask(cube.data, cube.valid, axis=wn)
        else:
            tissue = tissue_mask(scan, cube.valid)
        display = amide_image(cube.data, wn)
        return PreparedImage(Path(path), None, source, tile_prepare, tissue, display)
    data, valid, tissue = prepare_spot_array(path, target, tissue_file)  # one prepared image, no copies
    return PreparedImage(Path(path), data, data, None, tissue, amide_image(data, target))


def _prepare_rgb(path, in_channels: int, stain, tissue_file) -> PreparedImage:
    from irpath.data.rgb import background_mask, reinhard_normalise
    from irpath.io import read_cube, read_mask

    cube = read_cube(path)
    rgb = np.asarray(cube.data, np.float32)
    if rgb.shape[-1] != 3:
        raise ShapeError(f"{path}: an RGB method needs 3 channels (or a grey image), got {rgb.shape[-1]}")
    if not np.isfinite(rgb).all():
        raise InvalidValuesError(f"{path}: image holds NaN or Inf values")
    rgb01 = np.clip(rgb / 255.0, 0.0, 1.0)
    background = background_mask(rgb01)
    if stain is not None:
        rgb01 = reinhard_normalise(rgb01, np.asarray(stain["mean"]), np.asarray(stain["std"]),
                                   mask=~background)
    tissue = ~background
    if tissue_file is not None:
        tissue = read_mask(tissue_file, rgb.shape[:2])
    data = rgb01.astype(np.float32) * 255.0
    if in_channels == 1:
        data = data.mean(axis=-1, keepdims=True)
    elif in_channels != 3:
        raise ShapeError(f"{path}: the model takes {in_channels} channels; RGB images give 3")
    return PreparedImage(Path(path), data, data, None, tissue, rgb01)


def prepare_image(path, modality: str, *, axis=None, in_channels: int | None = None,
                  tissue_file=None, lazy: bool = False, stain=None) -> PreparedImage:
    """Read ``path`` and prepare it for a model of ``modality``.

    Args:
        path: an image file (any format :func:`irpath.io.read_cube` reads).
        modality: "ir" or "rgb".
        axis: (C,) the model's wavenumber axis (IR).
        in_channels: the model's input channels (RGB: 3, or 1 for grey models).
        tissue_file: an optional tissue mask file (restricted to valid pixels).
        lazy: IR only: do not load the cube; ``data`` is None and ``source`` is read
            tile by tile (memory bounded by the tile, not the image).
        stain: RGB only: ``{"mean": (3,), "std": (3,)}`` Reinhard reference in L*a*b*, or None.

    Returns:
        A :class:`PreparedImage`.

    Raises:
        IrpathError subclasses naming ``path`` (unreadable file, bad spectra, wrong channels).
    """
    if modality == "ir":
        return _prepare_ir(path, axis, tissue_file, lazy)
    if modality == "rgb":
        return _prepare_rgb(path, 3 if in_channels is None else in_channels, stain, tissue_file)
    raise ConfigError(f"unknown modality {modality!r}; expected 'ir' or 'rgb'")

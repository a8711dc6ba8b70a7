"""Slides and pyramids prepared for a model at a chosen resolution, without loading them.

:func:`prepare_slide` opens a file with :func:`irpath.io.sources.open_image`, picks
the pyramid level (``level``, or the nearest level not coarser than ``mpp``),
resamples it to ``mpp`` on the fly (:class:`~irpath.io.sources.ResampledView`), and
takes the tissue mask on a thumbnail level (:func:`irpath.data.rgb_tissue.rgb_tissue_mask`).
The :class:`~irpath.data.prepare.PreparedImage` it returns is lazy: ``data`` is None
and tiles are read region by region, so memory is set by the tile.

Map pixel (i, j) covers level-0 pixels ``(i * downsample, j * downsample)`` onward:
``PreparedImage.downsample`` converts every output coordinate to level 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.data.prepare import PreparedImage
from irpath.errors import ConfigError, ShapeError

#: Longest side of the thumbnail the tissue mask and the overlay PNG are made from.
THUMBNAIL_SIDE = 2048


def choose_level(source, *, mpp: float | None = None, level: int | None = None) -> tuple[int, float]:
    """``(level, factor)``: the level to read and its pixels per output pixel (1.0: none).

    Raises:
        ConfigError: both given, a missing level, or ``mpp`` on a file without a pixel size.
    """
    if mpp is not None and level is not None:
        raise ConfigError("give --mpp or --level, not both")
    if level is not None:
        if not 0 <= level < source.levels:
            raise ConfigError(f"{source.path}: no level {level} (the image has {source.levels}: "
                              f"0..{source.levels - 1})")
        return int(level), 1.0
    if mpp is None:
        return 0, 1.0
    if not mpp > 0:
        raise ConfigError(f"--mpp must be > 0, got {mpp}")
    lvl = source.nearest_level(float(mpp))
    factor = float(mpp) / source.level_mpp(lvl)
    return lvl, (1.0 if abs(factor - 1.0) < 1e-3 else factor)


def thumbnail(source) -> np.ndarray:
    """(h, w, C) of the finest level with sides <= :data:`THUMBNAIL_SIDE` (strided if none is)."""
    from irpath.io.sources import ResampledView

    lvl = source.thumbnail_level(THUMBNAIL_SIDE)
    view = source.level(lvl)
    side = max(view.shape[:2])
    if side > THUMBNAIL_SIDE:
        view = ResampledView(view, side / THUMBNAIL_SIDE)
    return np.asarray(view)


def slide_tissue(source, tissue, grid: tuple[int, int], thumb: np.ndarray) -> np.ndarray:
    """(H, W) bool tissue of the prediction grid: ``"auto"`` (Otsu on the thumbnail),
    ``"none"`` (everything) or a mask file (any size; resized, nearest)."""
    from irpath.data.rgb_tissue import rgb_tissue_mask, upsample_mask

    if tissue in (None, "auto"):
        low = rgb_tissue_mask(thumb) if thumb.shape[-1] == 3 else np.ones(thumb.shape[:2], bool)
    elif tissue == "none":
        return np.ones(grid, bool)
    else:
        from irpath.io import read_mask

        low = read_mask(tissue)
    return upsample_mask(low, grid)


def prepare_slide(path, modality: str, *, in_channels: int = 3, stain=None, mpp: float | None = None,
                  level: int | None = None, tissue="auto") -> PreparedImage:
    """A lazy :class:`PreparedImage` of a slide / pyramid at ``mpp`` (or ``level``).

    Args:
        path: any file :func:`irpath.io.sources.open_image` reads as a pyramid or slide.
        modality: must be "rgb" (an IR model is refused with the reason).
        in_channels: the model's input channels (3, or 1 for grey models).
        stain: ``{"mean", "std"}`` Reinhard reference; the slide's own statistics are
            taken over the thumbnail's tissue, so every tile gets the same transform.
        mpp, level: the resolution (see :func:`choose_level`); default level 0.
        tissue: ``"auto"``, ``"none"`` or a mask file.

    Returns:
        A PreparedImage with ``data`` None, ``source`` the (resampled) level, ``tile_prepare``
        casting a tile to the model's float32 input, ``tissue`` on the prediction grid,
        ``display`` the thumbnail in [0, 1], and ``level``, ``mpp``, ``downsample`` set.
    """
    from irpath.io.sources import ResampledView, open_image

    if modality != "rgb":
        raise ConfigError(f"{path}: an IR model cannot read an RGB slide")
    source = open_image(path)
    if source.channels != 3:
        raise ShapeError(f"{path}: an RGB method needs 3 channels, the slide has {source.channels}")
    lvl, factor = choose_level(source, mpp=mpp, level=level)
    view = source.level(lvl)
    if factor != 1.0:
        view = ResampledView(view, factor)
    grid = tuple(view.shape[:2])
    thumb = thumbnail(source).astype(np.float32)
    tissue_grid = slide_tissue(source, tissue, grid, thumb)
    transform = None
    if stain is not None:
        from irpath.data.rgb_tissue import upsample_mask

        low = upsample_mask(tissue_grid, thumb.shape[:2])
        transform = _reinhard_transform(thumb / 255.0, low, stain)

    def tile_prepare(raw, box):
        x = np.asarray(raw, np.float32)
        if transform is not None:
            x = transform(x / 255.0) * 255.0
        return x.mean(axis=-1, keepdims=True) if in_channels == 1 else x

    if in_channels not in (1, 3):
        raise ShapeError(f"{path}: the model takes {in_channels} channels; RGB images give 3")
    prepared = PreparedImage(Path(path), None, view, tile_prepare, tissue_grid,
                             np.clip(thumb / 255.0, 0, 1))
    prepared.level = lvl
    prepared.downsample = float(source.downsamples[lvl] * factor)
    prepared.mpp = None if source.mpp is None else source.level_mpp(lvl) * factor
    prepared.image_source = source
    return prepared


def _reinhard_transform(thumb01, mask, stain):
    """The Reinhard map with the slide's statistics fixed from its thumbnail."""
    from irpath.data.rgb import lab_to_rgb, rgb_to_lab

    lab = rgb_to_lab(thumb01)
    sel = lab[mask] if mask.any() else lab.reshape(-1, 3)
    mean, std = sel.mean(axis=0), np.maximum(sel.std(axis=0), 1e-6)
    t_mean, t_std = np.asarray(stain["mean"]), np.asarray(stain["std"])

    def apply(rgb01):
        out = (rgb_to_lab(np.clip(rgb01, 0, 1)) - mean) / std * t_std + t_mean
        return np.clip(lab_to_rgb(out), 0, 1).astype(np.float32)
    return apply

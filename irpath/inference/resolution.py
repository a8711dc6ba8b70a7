"""Labelled images for ``evaluate`` at a chosen resolution, read as ``predict`` reads them.

``irpath evaluate METHOD --mpp M`` reads every image at M µm per pixel (default: the
µm/px recorded in the run by ``train --mpp``) through the one inference path
(:func:`irpath.inference.engine.prepare_input`, with ``--tissue none``: every pixel is
computed), so its maps are the maps of ``irpath predict --mpp M --tissue none``.

The labels stay on their image's level-0 grid and are brought to the prediction grid
by nearest neighbour (:func:`labels_on_grid`): map pixel (i, j) covers level-0 pixels
``i * d .. (i + 1) * d`` (``d`` = ``prepared.downsample``) and takes the label at its
centre, level-0 pixel ``(floor((i + 0.5) * d), floor((j + 0.5) * d))``. Scores are
therefore counted per map pixel at M µm/px.

An explicit ``--mpp`` needs an image that records its pixel size (a slide, an OME-TIFF
or a pyramidal TIFF with resolution tags); any other image is refused in one line. The
recorded µm/px applies to such images only; other images are evaluated at their own
pixel grid, as ``predict`` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, ShapeError


def check_mpp(mpp: float | None) -> float | None:
    """``--mpp`` as a float > 0 (None stays None).

    Raises:
        ConfigError: not a finite number > 0.
    """
    if mpp is None:
        return None
    if not (np.isfinite(mpp) and mpp > 0):
        raise ConfigError(f"--mpp must be a number of µm per pixel > 0, got {mpp}")
    return float(mpp)


def evaluation_input(predictor, image, *, mpp: float | None = None, memory_limit=None, tile_limit=None):
    """``(prepared, plan)`` of one labelled image, exactly as ``predict --tissue none`` reads it.

    Args:
        predictor: the loaded model.
        image: the image file.
        mpp: ``--mpp`` (None: the run's recorded µm/px for slides / pyramids, else the
            image's own grid).
        memory_limit, tile_limit: as for predict (whole image or tiles).

    Returns:
        A :class:`~irpath.data.prepare.PreparedImage` (lazy for slides; ``downsample``
        and ``mpp`` set when read at a resolution) and its :class:`~irpath.inference.plan.Plan`.

    Raises:
        ConfigError: ``mpp`` given for an image that records no pixel size.
    """
    from irpath.inference.engine import prepare_input
    from irpath.io.sources import is_big_image, open_image

    mpp = check_mpp(mpp)
    if mpp is not None and not is_big_image(image):
        with open_image(image) as src:
            known = src.mpp
        if known is None:
            raise ConfigError(f"{image}: the file records no pixel size (µm/px), so it cannot be read at "
                              f"--mpp {mpp:g}; evaluate without --mpp, or give a slide / OME-TIFF / "
                              "pyramidal TIFF that records it")
        if abs(known / mpp - 1.0) > 0.01:
            raise ConfigError(f"{image}: the image is {known:g} µm/px and only slides and pyramidal TIFFs "
                              f"are resampled, not to --mpp {mpp:g}")
    tissue = "none" if is_big_image(image) else "auto"
    prepared, plan = prepare_input(predictor, image, mpp=mpp, tissue=tissue, memory_limit=memory_limit,
                                   tile_limit=tile_limit)
    prepared.skip_background = False  # every pixel is scored, so every pixel is computed
    return prepared, plan


def level0_shape(prepared) -> tuple[int, int]:
    """(H0, W0) of the image ``prepared`` was read from (its own shape when not resampled)."""
    source = getattr(prepared, "image_source", None)
    return tuple(source.level_shapes[0]) if source is not None else tuple(prepared.shape)


def labels_on_grid(label: np.ndarray, prepared, name="the label") -> np.ndarray:
    """``label`` (level-0 grid) on the prediction grid of ``prepared``, nearest neighbour.

    Args:
        label: (H0, W0) integer labels of the image's level 0.
        prepared: from :func:`evaluation_input`.
        name: the label file, named in errors.

    Returns:
        (H, W) labels, H x W = ``prepared.shape``; ``label`` itself when not resampled.

    Raises:
        ShapeError: ``label`` is not the size of the image.
    """
    label = np.asarray(label)
    h0, w0 = level0_shape(prepared)
    if label.shape[:2] != (h0, w0):
        raise ShapeError(f"{name}: label is {label.shape[1]} x {label.shape[0]} pixels, its image "
                         f"{Path(str(prepared.path)).name} is {w0} x {h0}")
    h, w = prepared.shape
    if (h, w) == (h0, w0):
        return label
    d = float(getattr(prepared, "downsample", 1.0))
    ys = np.minimum(np.floor((np.arange(h) + 0.5) * d).astype(int), h0 - 1)
    xs = np.minimum(np.floor((np.arange(w) + 0.5) * d).astype(int), w0 - 1)
    return label[ys[:, None], xs[None, :]]


def display_on_grid(prepared) -> np.ndarray:
    """The picture of ``prepared`` on its prediction grid: its ``display`` when the sizes
    agree, else (a slide's thumbnail) the RGB image read at that grid, in [0, 1]."""
    if tuple(np.shape(prepared.display)[:2]) == tuple(prepared.shape):
        return prepared.display
    return np.clip(np.asarray(prepared.source, np.float32) / 255.0, 0.0, 1.0)

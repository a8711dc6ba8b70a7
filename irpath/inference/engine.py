"""The one inference path every command takes: ``predict``, ``evaluate`` and the cohort runner.

:func:`predict_maps` predicts a prepared image whole or tile by tile, as its
:class:`~irpath.inference.plan.Plan` says, skipping tiles without tissue on
slides; so one model gives one map for one image whatever the command.
"""

from __future__ import annotations

import numpy as np

from irpath.errors import InvalidValuesError
from irpath.inference.plan import Plan, plan_prediction


def plan_for(predictor, prepared, *, memory_limit=None, tile=None, overlap=None, tile_limit=None) -> Plan:
    """The plan of ``prepared`` for ``predictor`` (lazy slides are always tiled)."""
    h, w = prepared.shape
    src = prepared.source
    return plan_prediction(h, w, raw_channels=int(src.shape[-1]), raw_itemsize=np.dtype(src.dtype).itemsize,
                           in_channels=predictor.in_channels,
                           out_channels=len(predictor.method_obj.output_names(predictor.config)),
                           cfg=predictor.config, memory_limit=memory_limit, tile=tile, overlap=overlap,
                           tile_limit=tile_limit, lazy_only=prepared.data is None)


def _tissue_skip(prepared):
    """``skip(box)``: True for a tile without tissue (slides and tiled IR mosaics with a tissue mask only)."""
    if not getattr(prepared, "skip_background", False):
        return None
    tissue = prepared.tissue

    def skip(box):
        y0, y1, x0, x1 = box
        return not tissue[y0:y1, x0:x1].any()
    return skip


def predict_maps(predictor, prepared, *, plan: Plan | None = None, out_file=None, progress: bool = True,
                 tta: bool = False, memory_limit=None) -> np.ndarray:
    """(H, W, K) maps of one prepared image.

    Args:
        predictor: the loaded model.
        prepared: a :class:`~irpath.data.prepare.PreparedImage` (eager or lazy).
        plan: whole or tiled (default :func:`plan_for` with ``memory_limit``).
        out_file: a ``.npy`` path for tiled output (memory-mapped); None keeps it in memory.
        tta: average over the 8 flips / 90° turns.

    Returns:
        (H, W, K) float32 maps; tiles skipped as background hold 0. ``prepared.computed_fraction``
        is set to the fraction of the image's area that went through the model.

    Raises:
        InvalidValuesError: the maps hold NaN or Inf (never written as results).
    """
    plan = plan or plan_for(predictor, prepared, memory_limit=memory_limit)
    fn = predictor.predict if plan.whole or predictor.predict_tiles is None else predictor.predict_tiles
    if tta:
        from irpath.inference.tta import dihedral_tta

        fn = dihedral_tta(fn)
    if plan.whole:
        data = prepared.data if prepared.data is not None else np.asarray(prepared.source, np.float32)
        maps = fn(data[None])[0]
        prepared.computed_fraction = 1.0
    else:
        from irpath.inference.tiling import predict_tiled

        stats: dict = {}
        skip = _tissue_skip(prepared)
        k = len(predictor.method_obj.output_names(predictor.config))
        maps = predict_tiled(prepared.source, fn, out_file, tile=plan.tile, overlap=plan.overlap,
                             align=predictor.method_obj.tile_align(predictor.config),
                             prepare=prepared.tile_prepare, progress=progress, skip=skip,
                             out_channels=k if skip else None, stats=stats)
        prepared.computed_fraction = stats.get("computed_fraction", 1.0)
    _check_finite(maps, prepared)
    return maps


def _check_finite(maps, prepared) -> None:
    from irpath.io.cube import row_blocks

    for a, b in row_blocks(maps):
        bad = ~np.isfinite(np.asarray(maps[a:b]))
        if bad.any():
            r, c = np.argwhere(bad.any(axis=-1))[0]
            raise InvalidValuesError(
                f"{prepared.path}: the model's maps hold {int(bad.any(axis=-1).sum())} non-finite pixel(s) "
                f"(first at row {a + r}, column {c}); are the input values in range?")


def prepare_input(predictor, path, *, mpp: float | None = None, level: int | None = None, tissue="auto",
                  memory_limit=None, tile=None, overlap=None, tile_limit=None):
    """``(prepared, plan)`` of one input file for ``predictor``.

    Slides and pyramids (:func:`irpath.io.sources.is_big_image`) are prepared lazily at
    ``mpp`` / ``level`` (default: the model's recorded µm/px, else level 0) and always
    tiled, over tissue only unless ``tissue == "none"``. Other files are read whole
    when the plan says the whole-image pass fits ``memory_limit``, else lazily; a tiled
    IR cube (a mosaic) is then also predicted over tissue only (the amide I mask, or
    the ``tissue`` mask file) unless ``tissue == "none"``.
    """
    from irpath.io.sources import is_big_image, open_image

    method, cfg = predictor.method_obj, predictor.config
    if is_big_image(path):
        from irpath.data.prepare_source import prepare_slide

        if mpp is None and level is None:
            from irpath.inference.loading import recorded_mpp

            mpp = recorded_mpp(predictor.source) if predictor.source else None
        prepared = prepare_slide(path, method.modality, in_channels=predictor.in_channels,
                                 stain=getattr(cfg, "stain", None), mpp=mpp, level=level, tissue=tissue)
        prepared.skip_background = tissue != "none"
        return prepared, plan_for(predictor, prepared, memory_limit=memory_limit, tile=tile, overlap=overlap)
    if level not in (None, 0):
        from irpath.errors import ConfigError

        raise ConfigError(f"{path}: has one level (0), not {level}")
    with open_image(path) as src:
        (h, w, c), itemsize = src.shape, np.dtype(src.dtype).itemsize
    plan = plan_prediction(h, w, raw_channels=c, raw_itemsize=itemsize, in_channels=predictor.in_channels,
                           out_channels=len(method.output_names(cfg)), cfg=cfg, memory_limit=memory_limit,
                           tile=tile, overlap=overlap, tile_limit=tile_limit)
    tissue_file = None if tissue in (None, "auto", "none") else tissue
    prepared = method.prepare(path, cfg, lazy=not plan.whole and method.modality == "ir",
                              tissue_file=tissue_file)
    if tissue == "none":
        prepared.tissue = np.ones(prepared.shape, bool)
    elif method.modality == "ir" and not plan.whole:  # mosaics: tiles without tissue are not computed
        prepared.skip_background = True
    return prepared, plan

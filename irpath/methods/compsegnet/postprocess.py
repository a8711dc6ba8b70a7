"""CompSegNet's results of one image: the tumour fraction of the tissue (as the paper scores spots)."""

from __future__ import annotations

import numpy as np


def postprocess(maps: np.ndarray, tissue: np.ndarray, threshold: float) -> dict:
    """``summary``: the fraction of tissue pixels whose activation is >= ``threshold``, and the
    tissue's pixel count; no arrays (the activation map is the result)."""
    from irpath.metrics import tumour_fraction

    return {"arrays": {}, "summary": {
        "tumour_fraction": float(tumour_fraction(np.asarray(maps[..., 0]), tissue, threshold)),
        "tissue_pixels": int(tissue.sum())}}


def geojson_features(maps, tissue: np.ndarray, threshold: float, *, simplify=None, **geo) -> list[dict]:
    """The tumour regions (activation >= ``threshold`` within ``tissue``) of (H, W, 1) ``maps``
    as annotations, one per connected region, with its area and mean activation; read a
    tile at a time (slides)."""
    from irpath.inference.geojson_export import ObjectKind, class_probability, map_features

    def keys(y0, y1, x0, x1):
        return ((np.asarray(maps[y0:y1, x0:x1, 0]) >= threshold)
                & np.asarray(tissue[y0:y1, x0:x1], bool)).astype(np.int32)
    return map_features(keys, class_probability(maps, [0, 0]),
                        {1: ObjectKind("tumour", (200, 0, 0), split=True)}, shape=maps.shape[:2],
                        simplify=simplify, **geo)

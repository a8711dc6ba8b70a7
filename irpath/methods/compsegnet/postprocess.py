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

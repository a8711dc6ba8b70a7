"""The multi-loss network's results of one image: gland instances and the image's class."""

from __future__ import annotations

import numpy as np


def postprocess(maps: np.ndarray, mode: str) -> dict:
    """Gland instances (``inst``: connected components of Ŝ = argmax P, int32) and the class
    (the scores' argmax) of (H, W, K) maps of a ``mode`` model."""
    from irpath.io.glas import CLASSES
    from irpath.methods.multiloss.evaluate import gland_instances, split_maps

    parts = split_maps(np.asarray(maps), mode)
    arrays, summary = {}, {}
    if parts["scores"] is not None:
        summary["class"] = CLASSES[int(np.argmax(parts["scores"]))]
        summary["p_malignant"] = float(parts["scores"][1])
    if parts["p_gland"] is not None:
        inst = gland_instances(parts["p_gland"])
        arrays["inst"] = inst
        summary["glands"] = int(inst.max())
        summary["gland_fraction"] = float((inst > 0).mean())
    return {"arrays": arrays, "summary": summary}

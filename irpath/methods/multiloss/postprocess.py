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


def geojson_features(result: dict, maps: np.ndarray, mode: str, *, simplify=None, **geo):
    """``(features, collection properties)``: one annotation per gland of ``result``'s
    ``inst`` (its area and mean P(gland)); the image's class (and P(malignant)) as
    properties of the collection."""
    from irpath.inference.geojson_export import ObjectKind, class_probability, map_features
    from irpath.methods.multiloss.evaluate import split_maps

    summary = result.get("summary", {})
    props = {k: summary[k] for k in ("class", "p_malignant") if k in summary}
    inst = result.get("arrays", {}).get("inst")
    if inst is None:
        return [], props
    p_gland = split_maps(np.asarray(maps), mode)["p_gland"]
    kind = ObjectKind("gland", (255, 200, 0))
    return map_features(inst, class_probability(p_gland, [0]), lambda key: kind, simplify=simplify,
                        **geo), props

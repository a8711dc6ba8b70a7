"""The VGG16-FCN's results of one image: the argmax class map and the fraction of each class."""

from __future__ import annotations

import numpy as np


def postprocess(maps: np.ndarray, class_names) -> dict:
    """``classes``: the (H, W) int32 argmax of (H, W, K) probabilities; ``<name>_fraction``
    of each of the K ``class_names``."""
    from irpath.methods.fcn.evaluate import argmax_classes

    classes = argmax_classes(maps)
    counts = np.bincount(classes.ravel(), minlength=len(class_names)) / max(classes.size, 1)
    return {"arrays": {"classes": classes},
            "summary": {f"{n}_fraction": float(c) for n, c in zip(class_names, counts)}}


#: QuPath colours of the written classes (cancer red, stroma green, as the colour labels).
COLOURS = {"cancer": (200, 0, 0), "stroma": (0, 150, 0)}


def geojson_features(classes, maps, class_names, *, simplify=None, **geo) -> list[dict]:
    """One MultiPolygon annotation per class of ``classes`` ((H, W) argmax of the (H, W, K)
    ``maps``; ``class_names`` in channel order, "background" not written), with its area
    and mean probability; ``geo``: ``downsample`` and ``mpp`` of
    :func:`irpath.inference.geojson_export.map_features`."""
    from irpath.inference.geojson_export import ObjectKind, class_probability, map_features

    written = [i for i, n in enumerate(class_names) if n in COLOURS]
    lut = np.zeros(len(class_names), np.int32)
    lut[written] = np.arange(1, len(written) + 1)
    kinds = {k: ObjectKind(class_names[i], COLOURS[class_names[i]]) for k, i in enumerate(written, 1)}
    return map_features(classes, class_probability(maps, [0, *written]), kinds, lut=lut,
                        simplify=simplify, **geo)

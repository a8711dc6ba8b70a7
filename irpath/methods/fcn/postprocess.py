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

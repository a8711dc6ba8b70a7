"""Test-time augmentation over the 8 flips / 90° turns, for any method's predictor."""

from __future__ import annotations

from typing import Callable

import numpy as np

from irpath.data.augment import dihedral, inverse_dihedral


def dihedral_tta(predict: Callable[[np.ndarray], np.ndarray], transforms=range(8)) -> Callable:
    """Wrap ``predict`` ((N, H, W, C) -> (N, H, W, K)) so it averages its maps over
    the dihedral transforms of the input, each map turned back before averaging.

    Maps whose channels depend on orientation (e.g. x/y gradients) must not use this.
    """
    transforms = tuple(transforms)

    def tta(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        total = None
        for k in transforms:
            x = np.ascontiguousarray(np.stack([dihedral(im, k) for im in images]))
            y = np.asarray(predict(x))
            back = np.stack([dihedral(m, inverse_dihedral(k)) for m in y])
            total = back.astype(np.float64) if total is None else total + back
        return (total / len(transforms)).astype(np.float32)
    return tta

"""Metrics, pure numpy: arrays in, numbers out.

* :mod:`~irpath.metrics.segmentation`: ``dice``, ``threshold_map``, ``tumour_fraction``.
* :mod:`~irpath.metrics.roc`: ``roc_curve``, ``roc_auc`` (spot-level scores).
"""

from irpath.metrics.roc import roc_auc, roc_curve
from irpath.metrics.segmentation import DEFAULT_THRESHOLD, dice, threshold_map, tumour_fraction

__all__ = ["DEFAULT_THRESHOLD", "dice", "roc_auc", "roc_curve", "threshold_map",
           "tumour_fraction"]

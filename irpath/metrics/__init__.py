"""Metrics, pure numpy: arrays in, numbers out.

* :mod:`~irpath.metrics.segmentation`: ``dice``, ``threshold_map``, ``tumour_fraction``,
  ``pooled_activation``.
* :mod:`~irpath.metrics.roc`: ``roc_curve``, ``roc_auc`` (spot-level scores).
* :mod:`~irpath.metrics.pixel`: ``confusion_matrix``, ``pixel_accuracy``,
  ``per_class_iou``, ``per_class_dice``, ``mean_iou``, ``pixel_report`` (multi-class maps).
* :mod:`~irpath.metrics.objects`: ``object_f1``, ``glas_object_dice``,
  ``glas_object_hausdorff``, ``hausdorff_distance``, ``relabel``, ``overlap``
  (instance label images).
* :mod:`~irpath.metrics.instances`: ``aji``, ``panoptic_quality`` (nuclei instances).
"""

from irpath.metrics.roc import roc_auc, roc_curve
from irpath.metrics.segmentation import (DEFAULT_THRESHOLD, dice, pooled_activation, threshold_map,
                                         tumour_fraction)
from irpath.metrics.pixel import (confusion_matrix, mean_iou, per_class_dice, per_class_iou,
                                  pixel_accuracy, pixel_report)
from irpath.metrics.objects import (glas_object_dice, glas_object_hausdorff, hausdorff_distance,
                                    object_f1, overlap, relabel)
from irpath.metrics.instances import aji, panoptic_quality

__all__ = ["DEFAULT_THRESHOLD", "dice", "pooled_activation", "roc_auc", "roc_curve", "threshold_map",
           "tumour_fraction"]
__all__ += ["confusion_matrix", "mean_iou", "per_class_dice", "per_class_iou",
            "pixel_accuracy", "pixel_report", "glas_object_dice", "glas_object_hausdorff",
            "hausdorff_distance", "object_f1", "overlap", "relabel", "aji", "panoptic_quality"]

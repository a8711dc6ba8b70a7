"""Metrics, pure numpy: arrays in, numbers out.

* :mod:`~irpath.metrics.pixel`: pixel-level. Binary masks and activation maps:
  ``dice``, ``threshold_map``, ``tumour_fraction``, ``pooled_activation``;
  multi-class label maps: ``confusion_matrix``, ``pixel_accuracy``,
  ``per_class_iou``, ``per_class_dice``, ``mean_iou``, ``pixel_report``.
* :mod:`~irpath.metrics.objects`: object-level, on instance label images:
  ``object_f1``, ``glas_object_dice``, ``glas_object_hausdorff``,
  ``hausdorff_distance``, ``aji``, ``panoptic_quality``, ``relabel``, ``overlap``.
* :mod:`~irpath.metrics.roc`: ``roc_curve``, ``roc_auc`` (spot-level scores).
"""

from irpath.metrics.objects import (aji, glas_object_dice, glas_object_hausdorff, hausdorff_distance,
                                    object_f1, overlap, panoptic_quality, relabel)
from irpath.metrics.pixel import (DEFAULT_THRESHOLD, confusion_matrix, dice, mean_iou, per_class_dice,
                                  per_class_iou, pixel_accuracy, pixel_report, pooled_activation,
                                  threshold_map, tumour_fraction)
from irpath.metrics.roc import roc_auc, roc_curve

__all__ = ["DEFAULT_THRESHOLD", "dice", "pooled_activation", "roc_auc", "roc_curve", "threshold_map",
           "tumour_fraction"]
__all__ += ["confusion_matrix", "mean_iou", "per_class_dice", "per_class_iou",
            "pixel_accuracy", "pixel_report", "glas_object_dice", "glas_object_hausdorff",
            "hausdorff_distance", "object_f1", "overlap", "relabel", "aji", "panoptic_quality"]

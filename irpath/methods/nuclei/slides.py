"""Nuclei from slides + QuPath GeoJSON: detection / cell polygons become instances and classes.

A manifest of ``image,label`` rows whose labels are QuPath GeoJSON files: every
``detection`` or ``cell`` object with a class name is a nucleus; its class comes
from ``--class-map 'Tumor=tumour,Immune cells=lymphocyte,Stroma=stroma'``
(default: QuPath's built-in names). Crops are read lazily inside the annotated
nuclei at ``--mpp`` (:class:`irpath.data.slide_crops.SlideCrops`); each crop's
nuclei are rasterised into an id-mod-3 label (nucleus ``j`` of class ``k`` gets
id ``3 (j + 1) + k``), whose 5-class target and weight map are computed on the crop.
"""

from __future__ import annotations

import numpy as np

#: QuPath's built-in class names mapped to the nuclei classes (case-insensitive).
DEFAULT_CLASS_MAP = {"tumor": "tumour", "tumour": "tumour", "lymphocyte": "lymphocyte",
                     "immune cells": "lymphocyte", "stroma": "stroma", "other": "stroma",
                     "ignore*": None}
OBJECT_TYPES = ("detection", "cell")


def instance_label(objects, shape, *, scale=1.0, origin=(0.0, 0.0)) -> np.ndarray:
    """(h, w) int32 id-mod-3 label of ``[(geometry, class)]`` nuclei on a grid."""
    from shapely.geometry import box

    from irpath.io.qupath import polygon_mask

    h, w = shape
    window = box(origin[1], origin[0], origin[1] + w * scale, origin[0] + h * scale)
    out = np.zeros(shape, np.int32)
    for j, (geom, k) in enumerate(objects):
        if geom.intersects(window):
            out[polygon_mask(geom, shape, scale=scale, origin=origin)] = 3 * (j + 1) + int(k)
    return out


def _targets(row, objects, crop, scale, origin):
    from irpath.methods.nuclei.targets import pack_targets

    return (pack_targets(instance_label(objects, (crop, crop), scale=scale, origin=origin)),)


def read_slide_set(source, data: dict, train_cfg, *, train: bool):
    """The :class:`~irpath.data.slide_crops.SlideCrops` of a GeoJSON manifest (see the module)."""
    from irpath.data.slide_crops import SlideCrops, geojson_rows
    from irpath.io.qupath import parse_class_map
    from irpath.methods.nuclei.labels import CLASSES

    class_map = parse_class_map(train_cfg.class_map, CLASSES, DEFAULT_CLASS_MAP)
    rows = geojson_rows(source, class_map, OBJECT_TYPES)
    return SlideCrops(rows, crop=train_cfg.crop, mpp=data.get("mpp"), labels=_targets,
                      flips=train and train_cfg.augment)


def datasets(train, val, train_cfg, *, global_batch: int, start_epoch: int, steps: int):
    """``(train_ds, val_ds)`` of ``(images, y_true [class, weight])`` from slide crops."""
    from irpath.data.slide_crops import crops_per_epoch

    spec = (("float32", (2,)),)
    train_ds = train.dataset(global_batch, seed=train_cfg.seed, per_epoch=steps * global_batch,
                             start_epoch=start_epoch, label_specs=spec)
    val_ds = val.dataset(global_batch, seed=train_cfg.seed + 1, per_epoch=crops_per_epoch(val, 1),
                         repeat=False, label_specs=spec)
    return train_ds, val_ds


def geojson_items(predictor, data, class_map=None) -> list:
    """``[(image, label, truth thunk)]`` of a manifest of image + QuPath GeoJSON rows (for
    ``evaluate nuclei --manifest``): ``truth(grid, scale)`` rasterises the row's nuclei as an
    id-mod-3 label on a grid of ``scale`` level-0 px per pixel."""
    from irpath.data.slide_crops import geojson_rows
    from irpath.io.qupath import parse_class_map
    from irpath.methods.nuclei.labels import CLASSES

    cmap = parse_class_map(class_map, CLASSES, DEFAULT_CLASS_MAP)
    return [(row.image, row.label,
             lambda grid, scale, objects=row.objects: instance_label(objects, grid, scale=scale))
            for row in geojson_rows(data, cmap, OBJECT_TYPES)]


def prepare_geojson_item(predictor, image, truth, *, mpp=None, memory_limit=None):
    """``(prepared, gt)``: the image read as predict reads it at ``mpp`` (default: the model's
    recorded µm/px for slides; else as it is; :func:`irpath.inference.resolution.evaluation_input`)
    and its nuclei rasterised on that grid."""
    from irpath.inference.resolution import evaluation_input

    prepared, _ = evaluation_input(predictor, image, mpp=mpp, memory_limit=memory_limit)
    return prepared, truth(prepared.shape[:2], float(getattr(prepared, "downsample", 1.0)))

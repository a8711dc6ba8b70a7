"""Multi-loss from slides + QuPath GeoJSON: gland polygons are the instances, the grade per image.

A manifest of ``image,label[,grade]`` rows whose labels are QuPath GeoJSON files:
every ``annotation`` object is a gland (instance ``j + 1`` in the order of the
file); the image's grade (benign / malignant, or 0 / 1) comes from the ``grade``
column or else from the FeatureCollection's ``properties`` (``grade``, or the
``class`` that ``predict --geojson`` writes). With ``--class-map
'Gland=gland,Stroma=ignore'`` only the annotations whose class names map to
``gland`` are glands (unclassified ones and ``ignore`` are skipped, unmapped names
refused); without it every annotation is a gland. Crops are read lazily inside the
glands at ``--mpp`` (:class:`irpath.data.slide_crops.SlideCrops`); evaluation reads
each image as predict does and rasterises its glands on that grid
(:func:`geojson_evaluation_items`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from irpath.errors import DataFileError

GLAND_TYPES = ("annotation",)
#: The one class a multiloss ``--class-map`` maps QuPath names to (or ``ignore``).
GLAND_CLASSES = ("gland",)


def _grade(value, where) -> int | None:
    from irpath.methods.multiloss.data import _class_index

    if value is None or str(value).strip() == "":
        return None
    return _class_index(value, where)


def read_slide_rows(source, class_map: str | None = None) -> tuple[list, dict]:
    """``(rows, grades)``: the :class:`~irpath.data.slide_crops.SlideRow` s of a GeoJSON
    manifest (objects ``(gland geometry, 1)``) and ``{label path: grade}``.

    Args:
        source: the ``image,label[,grade]`` manifest CSV (paths relative to it).
        class_map: ``--class-map`` 'Name=gland,Name=ignore' (None: every annotation is a gland).

    Raises:
        MissingFileError: the manifest, an image or a GeoJSON file is missing.
        DataFileError: a row whose grade is given neither in a ``grade`` column nor in the
            GeoJSON collection's properties, or is not benign / malignant / 0 / 1 (one line
            naming the manifest line or the file).
        ConfigError: class names ``class_map`` does not map (all listed, with the file).
    """
    from irpath.data.slide_crops import SlideRow
    from irpath.errors import MissingFileError
    from irpath.io.qupath import classify, parse_class_map, read_qupath

    cmap = parse_class_map(class_map, GLAND_CLASSES) if class_map else None

    source = Path(source)
    if not source.is_file():
        raise MissingFileError(f"{source}: no such manifest file")
    try:
        with open(source, newline="", encoding="utf-8-sig") as f:
            records = [{(k or "").strip(): (v or "").strip() for k, v in r.items()}
                       for r in csv.DictReader(f)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"{source}: not a readable CSV ({exc})") from None
    if not records or any(c not in records[0] for c in ("image", "label")):
        raise DataFileError(f"{source}: a GeoJSON manifest needs the columns image,label[,grade] "
                            "and at least one row")
    rows, grades = [], {}
    for lineno, rec in enumerate(records, start=2):
        image, label, g = source.parent / rec["image"], source.parent / rec["label"], rec.get("grade")
        if not rec["image"] or not image.is_file():
            raise MissingFileError(f"{image}: no such image ({source}: line {lineno})")
        if label.suffix.lower() not in (".geojson", ".json"):
            raise DataFileError(f"{source}: line {lineno}: {rec['label']} is not a .geojson label")
        ann = read_qupath(label)
        grade = _grade(g, f"{source}: line {lineno}")
        if grade is None:
            props = ann.properties
            value = props.get("grade", props.get("class"))
            grade = _grade(value, f"{label}: collection property")
        if grade is None:
            raise DataFileError(f"{source}: line {lineno}: no grade for {image.name} (give a "
                                "grade column or a 'grade' property of the GeoJSON FeatureCollection)")
        glands = tuple((o.geometry, 1) for o in ann.of_type(*GLAND_TYPES)) if cmap is None else \
            tuple((g, 1) for g, _ in classify(ann, cmap, GLAND_TYPES))
        rows.append(SlideRow(image, glands, label))
        grades[label] = grade
    return rows, grades


def gland_instances(objects, shape, *, scale=1.0, origin=(0.0, 0.0)) -> np.ndarray:
    """(h, w) int32 gland instances (``j + 1`` for object ``j``, 0 background) on a grid."""
    from irpath.io.qupath import rasterise

    return rasterise([(g, j + 1) for j, (g, _) in enumerate(objects)], shape, scale=scale,
                     origin=origin, fill=0)


def read_slide_set(source, mpp, train_cfg, *, train: bool, class_map: str | None = None):
    """The :class:`~irpath.data.slide_crops.SlideCrops` of a GeoJSON manifest; each crop's
    labels are ``(instances, grade plane)``."""
    from irpath.data.slide_crops import SlideCrops

    rows, grades = read_slide_rows(source, class_map)

    def labels(row, objects, crop, scale, origin):
        inst = gland_instances(objects, (crop, crop), scale=scale, origin=origin)
        return inst, np.full((crop, crop), grades[row.label], np.int32)
    return SlideCrops(rows, crop=train_cfg.crop, mpp=mpp, labels=labels,
                      flips=train and train_cfg.augment)


def slide_datasets(train, val, train_cfg, *, global_batch: int, start_epoch: int, to_inputs):
    """``(train_ds, val_ds)`` of the mode's inputs and targets from slide crops."""
    from irpath.data.slide_crops import crops_per_epoch

    spec = (("int32", ()), ("int32", ()))
    train_ds = train.dataset(global_batch, seed=train_cfg.seed, per_epoch=crops_per_epoch(train, global_batch),
                             start_epoch=start_epoch, label_specs=spec)
    val_ds = val.dataset(global_batch, seed=train_cfg.seed + 1, per_epoch=crops_per_epoch(val, 1),
                         repeat=False, label_specs=spec)
    wrap = lambda images, inst, cls: to_inputs(images, (inst, cls))  # noqa: E731
    return train_ds.map(wrap), val_ds.map(wrap)


def geojson_evaluation_items(predictor, rows, grades, *, mpp=None, memory_limit=None):
    """Yield ``(display, maps, gt instances, prepared, grade, name)`` of every row (for
    ``evaluate multiloss --manifest``): the image read as predict reads it at ``mpp`` (default:
    the run's recorded µm/px for slides / pyramids, else as it is;
    :func:`irpath.inference.resolution.evaluation_input`), its maps, and its glands rasterised
    on that grid (a pixel is a gland's when its centre lies inside the polygon)."""
    from irpath.errors import InvalidValuesError
    from irpath.inference.engine import predict_maps
    from irpath.inference.resolution import display_on_grid, evaluation_input

    for row in rows:
        prepared, plan = evaluation_input(predictor, row.image, mpp=mpp, memory_limit=memory_limit)
        maps = np.asarray(predict_maps(predictor, prepared, plan=plan, progress=False))
        if not np.isfinite(maps).all():
            raise InvalidValuesError(f"{row.image}: the model's maps hold non-finite values")
        gt = gland_instances(row.objects, prepared.shape[:2], scale=float(getattr(prepared, "downsample", 1.0)))
        yield display_on_grid(prepared), maps, gt, prepared, grades[row.label], str(row.image)

"""Evaluation as in Qu et al. 2019, Sec. 3.1, for all nuclei and per class.

Per image, with the core's pure-numpy metrics (:mod:`irpath.metrics`):

* **object F1**: a segmented nucleus is a true positive when it covers more
  than 50 % of a ground-truth nucleus's area (:func:`~irpath.metrics.object_f1`);
* **object Dice** and **object Hausdorff** (GlaS definitions);
* **AJI** and **PQ** (HoVer-Net's definitions);
* **classification accuracy among true positives**: each TP pair (prediction,
  the GT nucleus it covers by > 50 %) is counted in a 3 x 3 confusion matrix
  (rows: GT class, columns: predicted class).

Per class c, the same segmentation metrics compare the predicted nuclei of
class c with the GT nuclei of class c (as the authors' ``test.py`` does), so
misclassified nuclei lower the per-class scores. Image means are reported (the
authors average per image); a class absent from both an image's GT and its
prediction is left out of that class's mean (``n_images`` says how many
counted). Accuracy is pooled over all TPs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from irpath.io.paths import atomic_save_npy, atomic_write_json
from irpath.methods.nuclei.labels import CLASSES

SEGMENTATION_KEYS = ("f1", "precision", "recall", "dice", "hausdorff", "aji", "pq")


def segmentation_metrics(pred_inst, gt_inst) -> dict:
    """F1 (+ precision, recall, counts), object Dice, Hausdorff, AJI, PQ of one image.

    Args:
        pred_inst, gt_inst: (H, W) integer instance maps (0 = background).
    """
    from irpath.metrics import aji, glas_object_dice, glas_object_hausdorff, object_f1, panoptic_quality

    f1 = object_f1(pred_inst, gt_inst)
    return {"f1": f1["f1"], "precision": f1["precision"], "recall": f1["recall"],
            "tp": f1["tp"], "fp": f1["fp"], "fn": f1["fn"],
            "dice": float(glas_object_dice(pred_inst, gt_inst)),
            "hausdorff": float(glas_object_hausdorff(pred_inst, gt_inst)),
            "aji": float(aji(pred_inst, gt_inst)), "pq": float(panoptic_quality(pred_inst, gt_inst)["pq"])}


def tp_confusion(pred_inst, pred_classes: dict, gt_label) -> np.ndarray:
    """(3, 3) counts of true-positive pairs by (GT class, predicted class).

    A pair is a predicted nucleus covering more than 50 % of a GT nucleus (the
    F1 rule); predictions are disjoint, so each GT nucleus has at most one.

    Args:
        pred_inst: (H, W) predicted instances.
        pred_classes: ``{pred id: class index}``.
        gt_label: (H, W) id-mod-3 label image.
    """
    from irpath.metrics import overlap

    ov = overlap(pred_inst, gt_label)
    covers = 2 * ov.inter > ov.gt_area[ov.pair_gt]
    conf = np.zeros((3, 3), np.int64)
    for g, p in zip(ov.pair_gt[covers], ov.pair_pred[covers]):
        conf[int(ov.gt_ids[g]) % 3, pred_classes[int(ov.pred_ids[p])]] += 1
    return conf


def class_instances(inst, classes: dict, cls: int) -> np.ndarray:
    """``inst`` with only the instances of class ``cls`` kept (others 0)."""
    inst = np.asarray(inst)
    keep = np.zeros(int(inst.max(initial=0)) + 1, bool)
    for i, c in classes.items():
        if c == cls:
            keep[i] = True
    return np.where(keep[inst], inst, 0)


def image_metrics(pred_inst, pred_classes: dict, gt_label) -> dict:
    """All metrics of one image: ``{"all": {...}, "tumour": {...}, ..., "confusion": 3x3}``.

    A class entry is None when the class is absent from both GT and prediction.
    """
    from irpath.methods.nuclei.labels import decode_label

    gt_inst, gt_classes = decode_label(gt_label)
    out = {"all": segmentation_metrics(pred_inst, gt_inst)}
    for c, name in enumerate(CLASSES):
        p, g = class_instances(pred_inst, pred_classes, c), class_instances(gt_inst, gt_classes, c)
        out[name] = segmentation_metrics(p, g) if (p.any() or g.any()) else None
    conf = tp_confusion(pred_inst, pred_classes, gt_inst)
    out["confusion"] = conf.tolist()
    out["accuracy"] = float(np.trace(conf) / conf.sum()) if conf.sum() else None
    return out


def summarise(per_image: list[dict]) -> dict:
    """Image means per class and the pooled classification accuracy."""
    report = {}
    for name in ("all",) + CLASSES:
        rows = [r[name] for r in per_image if r.get(name) is not None]
        entry = {k: (float(np.mean([r[k] for r in rows])) if rows else None) for k in SEGMENTATION_KEYS}
        entry.update({k: int(sum(r[k] for r in rows)) for k in ("tp", "fp", "fn")})
        entry["n_images"] = len(rows)
        report[name] = entry
    conf = np.sum([np.asarray(r["confusion"]) for r in per_image], axis=0) if per_image \
        else np.zeros((3, 3), np.int64)
    total = int(conf.sum())
    report["all"]["accuracy"] = float(np.trace(conf) / total) if total else None
    for c, name in enumerate(CLASSES):
        n = int(conf[c].sum())
        report[name]["accuracy"] = float(conf[c, c] / n) if n else None
    report["confusion"] = {"rows": "ground truth", "columns": "prediction", "classes": list(CLASSES),
                           "counts": conf.astype(int).tolist()}
    return report


#: Inner-part thresholds tried by ``--calibrate`` (None: the argmax, tried first). Below 0.5
#: a pixel can be inner without inner being its most likely class: a model that is unsure of
#: dim or small nuclei keeps them (on bed 2 of the StarDist comparison, one seed's test F1
#: went 0.732 -> 0.802 when 0.20-0.45 were added).
CALIBRATION_GRID = (None, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85,
                    0.9, 0.95)


def min_area_grid(min_area: int) -> tuple[int, ...]:
    """The smallest inner parts training calibration tries: the recipe's ``min_area``
    (the paper's 20 px, tried first), then a half and a quarter of it. Small nuclei
    (fluorescence at 20x, lymphocytes) lose most of their area to the 2 px contour
    class, and the paper's 20 px drops their inner parts altogether."""
    out = [int(min_area)]
    for m in (min_area // 2, min_area // 4):
        if m >= 1 and m not in out:
            out.append(int(m))
    return tuple(out)


#: Seed heights of the inner-part split tried by training calibration (None: no split).
SPLIT_GRID = (None, 0.1, 0.2, 0.3, 0.5)


def split_grid(split: float | None) -> tuple:
    """The splits training calibration tries: the recipe's ``split`` first (None, the
    paper's connected inner parts, by default), then the rest of :data:`SPLIT_GRID`.
    Overlapping nuclei that the network joins without a contour between them are
    one inner part; a seeded watershed splits them (:mod:`.postprocess`)."""
    return (split,) + tuple(h for h in SPLIT_GRID if h != split)


def choose_postprocess(maps_and_labels, *, min_areas, radius: float, grid=CALIBRATION_GRID,
                       splits=(None,)) -> tuple[float | None, int, float | None, list[dict]]:
    """The inner threshold, smallest inner part and split with the best mean object F1 (ties:
    mean AJI, then the earlier entry: earlier ``min_areas`` first, then earlier ``splits``,
    the argmax first).

    Args:
        maps_and_labels: ``[(maps (H, W, 5), gt id-mod-3 label (H, W)), ...]``.
        min_areas: the post-processing's ``min_area`` values to try (see :mod:`.postprocess`).
        radius: the post-processing's growth radius.
        grid: thresholds to try; None is the argmax.
        splits: ``split`` values to try; None is no split (the paper).

    Returns:
        ``(threshold, min_area, split, table)``: the choice and one ``{"min_area", "split",
        "inner_threshold", "f1", "aji"}`` per (min_area, split, threshold), min_area outermost.
    """
    from irpath.methods.nuclei.labels import decode_label
    from irpath.methods.nuclei.postprocess import postprocess
    from irpath.metrics import aji, object_f1

    gts = [decode_label(gt)[0] for _, gt in maps_and_labels]
    table = []
    for min_area in min_areas:
        for split in splits:
            for t in grid:
                preds = [postprocess(m, min_area=min_area, radius=radius, inner_threshold=t, split=split)[0]
                         for m, _ in maps_and_labels]
                table.append({"min_area": int(min_area), "split": split, "inner_threshold": t,
                              "f1": float(np.mean([object_f1(p, g)["f1"] for p, g in zip(preds, gts)])),
                              "aji": float(np.mean([aji(p, g) for p, g in zip(preds, gts)]))})
    best = table[max(range(len(table)), key=lambda i: (table[i]["f1"], table[i]["aji"], -i))]
    return best["inner_threshold"], best["min_area"], best["split"], table


def choose_inner_threshold(maps_and_labels, *, min_area: int, radius: float,
                           grid=CALIBRATION_GRID, split: float | None = None) -> tuple[float | None, list[dict]]:
    """The inner threshold with the best mean object F1 at a fixed ``min_area`` and ``split``
    (ties: mean AJI, then the earlier grid entry, so the argmax wins a tie); see
    :func:`choose_postprocess`.

    Returns:
        ``(best, table)``: the threshold and one ``{"min_area", "split", "inner_threshold",
        "f1", "aji"}`` per grid entry.
    """
    threshold, _, _, table = choose_postprocess(maps_and_labels, min_areas=(min_area,), radius=radius,
                                                grid=grid, splits=(split,))
    return threshold, table


def _predicted(predictor, pairs, mapping, *, tta: bool, memory_limit=None, mpp=None):
    """Yield ``(image, label_path, prepared, maps, gt)`` for each pair (a GeoJSON row,
    ``(image, label, truth)``, is read by :func:`~.slides.prepare_geojson_item`), the image read
    as predict reads it at ``mpp`` and its labels brought onto that grid by nearest neighbour
    (:mod:`irpath.inference.resolution`)."""
    from irpath.errors import ShapeError
    from irpath.inference.predict import predict_maps
    from irpath.inference.resolution import evaluation_input, labels_on_grid
    from irpath.methods.nuclei.labels import read_nuclei_label
    from irpath.methods.nuclei.slides import prepare_geojson_item

    for image, label_path, *truth in pairs:
        if truth:
            prepared, gt = prepare_geojson_item(predictor, image, truth[0], mpp=mpp, memory_limit=memory_limit)
        else:
            gt = read_nuclei_label(label_path, mapping)
            prepared, _ = evaluation_input(predictor, image, mpp=mpp, memory_limit=memory_limit)
            if getattr(prepared, "image_source", None) is not None:
                gt = labels_on_grid(gt, prepared, label_path)
        if gt.shape != prepared.shape:
            raise ShapeError(f"{label_path}: label is {gt.shape[0]}x{gt.shape[1]} but {image.name} is "
                             f"{prepared.shape[0]}x{prepared.shape[1]}")
        maps = predict_maps(predictor, prepared, progress=False, tta=tta, memory_limit=memory_limit)
        yield image, label_path, prepared, maps, gt


def evaluate(predictor, data_dir, out_dir, *, class_map=None, tta: bool = False,
             overlays: bool = True, inner_threshold: float | None = None, calibrate=None,
             memory_limit: int | None = None, geojson: bool = False, simplify: float | None = None,
             mpp: float | None = None) -> dict:
    """Evaluate a nuclei model on a dataset folder; write report.json, overlays and instances.

    Images are predicted as ``irpath predict`` does (:mod:`irpath.inference.engine`):
    whole when the pass fits ``memory_limit`` bytes, else in tiles of ``tile`` px
    overlapping by ``overlap`` px; so both commands give the same maps.

    Args:
        predictor: from :func:`irpath.inference.loading.load_predictor`.
        data_dir: dataset folder (``images/`` + ``labels/``), or a manifest CSV of image +
            QuPath GeoJSON rows (detection / cell polygons are the nuclei, named by
            ``class_map`` 'Tumor=tumour,...'; slides are read at the model's recorded µm/px).
        out_dir: the evaluation directory (created).
        class_map: ``--class-map`` spec for instance + type label files.
        tta: average over the 8 flips / quarter turns.
        overlays: write ``overlays/NAME.png``.
        inner_threshold: overrides the model's (None: the model's, by default the argmax).
        calibrate: a validation folder: the inner threshold is chosen there
            (:func:`choose_inner_threshold`) and used on ``data_dir``; the
            per-threshold validation table goes to the report's ``calibration``.
        geojson, simplify: also write ``geojson/<stem>.geojson`` (QuPath objects of the predictions).
        mpp: read the images at this µm/px (labels by nearest neighbour onto that grid; also for
            ``calibrate``); see :mod:`irpath.inference.resolution`.

    Returns:
        The report dict: ``all``, ``tumour``, ``lymphocyte``, ``stroma`` (each with
        f1, precision, recall, dice, hausdorff, aji, pq, accuracy, counts),
        ``confusion``, ``inner_threshold`` and ``images`` (per image).
    """
    from irpath.errors import ConfigError
    from irpath.methods.nuclei.data import find_pairs, parse_class_map
    from irpath.methods.nuclei.labels import encode_label
    from irpath.inference.resolution import display_on_grid
    from irpath.methods.nuclei.plots import plot_nuclei

    cfg, method = predictor.config, predictor.method_obj
    if calibrate is not None and inner_threshold is not None:
        raise ConfigError("give --inner-threshold or --calibrate, not both")
    from irpath.data.slide_crops import is_geojson_manifest

    if is_geojson_manifest(data_dir):
        from irpath.methods.nuclei.slides import geojson_items

        mapping, pairs = None, geojson_items(predictor, data_dir, class_map)
    else:
        mapping, pairs = parse_class_map(class_map), find_pairs(data_dir)
    calibration = None
    if calibrate is not None:
        val = [(maps, gt) for *_, maps, gt in _predicted(predictor, find_pairs(calibrate), mapping, tta=tta,
                                                                 memory_limit=memory_limit, mpp=mpp)]
        inner_threshold, table = choose_inner_threshold(val, min_area=cfg.min_area, radius=cfg.radius,
                                                         split=cfg.split)
        calibration = {"data": str(calibrate), "n_images": len(val), "chosen": inner_threshold,
                       "table": table}
        print(f"calibrated on {len(val)} image(s) of {calibrate}: inner threshold "
              f"{'argmax' if inner_threshold is None else inner_threshold} (validation F1 "
              f"{max(r['f1'] for r in table):.3f}; argmax {table[0]['f1']:.3f})", file=sys.stderr, flush=True)
    threshold = method.threshold(cfg, inner_threshold)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "instances").mkdir(exist_ok=True)
    if overlays:
        (out / "overlays").mkdir(exist_ok=True)
    rows = []
    for i, (image, label_path, prepared, maps, gt) in enumerate(
            _predicted(predictor, pairs, mapping, tta=tta, memory_limit=memory_limit, mpp=mpp), 1):
        result = method.postprocess(maps, prepared, cfg, threshold=threshold)
        inst = result["arrays"]["instances"]
        classes = result["classes"]
        metrics = image_metrics(inst, classes, gt)
        atomic_save_npy(out / "instances" / f"{image.stem}.npy", encode_label(inst, classes))
        if overlays:
            a = metrics["all"]
            plot_nuclei(display_on_grid(prepared), inst, classes, out / "overlays" / f"{image.stem}.png", gt=gt,
                        title=f"{image.name}: F1 {a['f1']:.2f}  Dice {a['dice']:.2f}  "
                              f"AJI {a['aji']:.2f}  PQ {a['pq']:.2f}")
        rows.append({"image": str(image), "label": str(label_path), "n_pred": len(classes),
                     "n_gt": int(len(np.unique(gt[gt > 0]))), **metrics})
        if geojson:
            from irpath.inference.outputs import write_evaluate_geojson

            rows[-1]["geojson"] = write_evaluate_geojson(out, image.stem, predictor, maps, prepared,
                                                         threshold=threshold, simplify=simplify, result=result)
        a = metrics["all"]
        print(f"[{i}/{len(pairs)}] {image.name}: F1 {a['f1']:.3f}, Dice {a['dice']:.3f}, "
              f"Hausdorff {a['hausdorff']:.2f}, AJI {a['aji']:.3f}, PQ {a['pq']:.3f}",
              file=sys.stderr, flush=True)
    report = {"model": predictor.source, "method": predictor.method, "data": str(data_dir),
              "n_images": len(rows), "tta": bool(tta), "tile": cfg.tile, "overlap": cfg.overlap,
              "inner_threshold": threshold, "split": cfg.split,
              **({"calibration": calibration} if calibration else {}),
              **summarise(rows), "images": rows}
    atomic_write_json(out / "report.json", report)
    return report

"""Evaluation of a VGG16-FCN on labelled images, and its colour-coded pictures.

``report.json`` holds, over all pixels of all images: pixel accuracy, per-class
IoU and Dice and the confusion matrix (rows = truth, columns = prediction;
:mod:`irpath.metrics.pixel`), and the paper's quantity, the mean softmax
cross-entropy (Sec. 4.3: per image the mean over pixels of −log p̂_true, then
the mean over images; comparable with its Table 2). Per image the same numbers
are listed. Pictures: ``predictions/<name>.png`` (colour-coded classes, the
label images' palette) and ``overlays/<name>.png`` (image, truth, prediction,
prediction over the image).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from irpath.io.colour_labels import CLASS_NAMES, encode_colour_labels
from irpath.io.paths import atomic_write_json

#: Probability floor inside the logarithm (as :class:`irpath.losses.fcn.SoftmaxCrossEntropy`).
EPSILON = 1e-7


def argmax_classes(probs: np.ndarray) -> np.ndarray:
    """(H, W, K) probabilities -> (H, W) int32 argmax classes."""
    return np.argmax(np.asarray(probs), axis=-1).astype(np.int32)


def mean_cross_entropy(probs: np.ndarray, target: np.ndarray, epsilon: float = EPSILON) -> float:
    """Mean over pixels of −log p̂ of the true class.

    Args:
        probs: (H, W, K) probabilities.
        target: (H, W) integer classes in [0, K).
    """
    p = np.take_along_axis(np.asarray(probs, np.float64), np.asarray(target)[..., None].astype(np.intp),
                           axis=-1)[..., 0]
    return float(np.mean(-np.log(np.clip(p, epsilon, 1.0))))


def report_from_confusion(cm: np.ndarray, class_names=CLASS_NAMES) -> dict:
    """The :func:`irpath.metrics.pixel_report` dict of a summed (K, K) confusion matrix."""
    import math

    from irpath.metrics import per_class_dice, per_class_iou

    def f(x):
        return None if math.isnan(x) else float(x)
    cm = np.asarray(cm, np.int64)
    iou, dsc = per_class_iou(cm), per_class_dice(cm)
    total = int(cm.sum())
    return {"class_names": list(class_names), "confusion_matrix": cm.tolist(),
            "pixel_accuracy": f(np.trace(cm) / total if total else math.nan),
            "mean_iou": f(np.nanmean(iou) if np.isfinite(iou).any() else math.nan),
            "mean_dice": f(np.nanmean(dsc) if np.isfinite(dsc).any() else math.nan),
            "iou": {n: f(v) for n, v in zip(class_names, iou)},
            "dice": {n: f(v) for n, v in zip(class_names, dsc)}}


def blend(display: np.ndarray, classes: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """(H, W, 3) image in [0, 1] with the colour-coded classes laid over it."""
    colours = encode_colour_labels(classes).astype(np.float32) / 255.0
    image = np.asarray(display, np.float32)
    image = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
    return np.clip((1 - alpha) * image + alpha * colours, 0.0, 1.0)


def plot_classes(display, pred, path, *, truth=None, title: str = "") -> Path:
    """A PNG of the image, the ground truth (if given), the prediction and the overlay.

    Args:
        display: (H, W, 3) image in [0, 1].
        pred: (H, W) int classes; truth: (H, W) int classes or None.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    panels = [("image", np.asarray(display))]
    if truth is not None:
        panels.append(("ground truth", encode_colour_labels(truth)))
    panels += [("prediction", encode_colour_labels(pred)), ("overlay", blend(display, pred))]
    fig = Figure(figsize=(3.4 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels))
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(img)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    colours = encode_colour_labels(np.arange(len(CLASS_NAMES))) / 255.0
    fig.legend(handles=[Patch(color=c, label=n) for c, n in zip(colours, CLASS_NAMES)],
               loc="lower center", ncol=len(CLASS_NAMES), fontsize="small")
    if title:
        fig.suptitle(title)
    from irpath.viz.plots import save_figure

    return save_figure(fig, path, dpi=100)


def _geojson_pairs(predictor, data, class_map, *, mpp=None, memory_limit=None, tile_limit=None):
    """``(image path, label path, prepared, plan, truth)`` of a manifest of image + QuPath
    GeoJSON rows: the image read as predict reads it at ``mpp`` (default: the model's
    recorded µm/px for slides; else as it is), the truth rasterised on that grid with
    :data:`~irpath.data.slide_crops.IGNORE` unannotated."""
    from irpath.data.slide_crops import IGNORE, geojson_rows
    from irpath.inference.resolution import evaluation_input
    from irpath.io.qupath import FCN_DEFAULT_CLASS_MAP, parse_class_map, rasterise

    cmap = parse_class_map(class_map, CLASS_NAMES, FCN_DEFAULT_CLASS_MAP)
    for row in geojson_rows(data, cmap, ("annotation",)):
        prepared, plan = evaluation_input(predictor, row.image, mpp=mpp, memory_limit=memory_limit,
                                          tile_limit=tile_limit)
        scale = float(getattr(prepared, "downsample", 1.0))
        yield row.image, row.label, prepared, plan, rasterise(row.objects, prepared.shape, scale=scale,
                                                              fill=IGNORE)


def _label_pairs(predictor, pairs, *, mpp=None, memory_limit=None, tile_limit=None):
    """``(image path, label path, prepared, plan, truth)`` of colour-label pairs: the image as
    predict reads it at ``mpp``, the labels brought to its grid by nearest neighbour."""
    from irpath.inference.resolution import evaluation_input, labels_on_grid
    from irpath.io.colour_labels import read_colour_labels
    from irpath.methods.fcn.data import read_pair

    for image, label in pairs:
        prepared, plan = evaluation_input(predictor, image, mpp=mpp, memory_limit=memory_limit,
                                          tile_limit=tile_limit)
        if getattr(prepared, "image_source", None) is None:
            truth = read_pair(image, label)[1]
        else:
            truth = labels_on_grid(read_colour_labels(label), prepared, label)
        yield image, label, prepared, plan, truth


def evaluate(predictor, data, out_dir, *, overlays: bool = True, class_map: str | None = None,
             geojson: bool = False, simplify: float | None = None, mpp: float | None = None,
             memory_limit: int | None = None, tile_limit: int | None = None) -> dict:
    """Evaluate a VGG16-FCN on labelled images; write report.json and pictures.

    Args:
        predictor: from :func:`irpath.inference.loading.load_predictor`.
        data: an ``image,label`` manifest CSV or an ``images/`` + ``labels/`` folder; a
            manifest's labels may be QuPath GeoJSON files (only annotated pixels are scored,
            slides are read at the model's recorded µm/px, no overlays).
        class_map: QuPath names -> classes for GeoJSON labels (``--class-map``; default
            QuPath's built-in names).
        out_dir: the evaluation directory (created).
        overlays: also write ``overlays/*.png``.
        geojson, simplify: also write ``geojson/<stem>.geojson`` (QuPath objects of the predictions).
        mpp: read the images at this µm/px (labels by nearest neighbour onto that grid); see
            :mod:`irpath.inference.resolution`.
        memory_limit, tile_limit: whole image or tiles, as predict decides.

    Returns:
        The report dict (see the module docstring).
    """
    from irpath.inference.engine import predict_maps
    from irpath.inference.predict import unique_stems
    from irpath.io.colour_labels import write_colour_labels
    from irpath.metrics import confusion_matrix, pixel_report
    from irpath.data.slide_crops import is_geojson_manifest
    from irpath.inference.resolution import display_on_grid
    from irpath.methods.fcn.data import list_pairs

    out = Path(out_dir)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    qupath = is_geojson_manifest(data)  # labels are QuPath GeoJSON files
    how = dict(mpp=mpp, memory_limit=memory_limit, tile_limit=tile_limit)
    if qupath:
        from irpath.data.slide_crops import geojson_rows
        from irpath.io.qupath import FCN_DEFAULT_CLASS_MAP, parse_class_map

        cmap = parse_class_map(class_map, CLASS_NAMES, FCN_DEFAULT_CLASS_MAP)
        pairs = [(r.image, r.label) for r in geojson_rows(data, cmap, ("annotation",))]
        items = _geojson_pairs(predictor, data, class_map, **how)
    else:
        pairs = list_pairs(data)
        items = _label_pairs(predictor, pairs, **how)
    k = len(CLASS_NAMES)
    total = np.zeros((k, k), np.int64)
    images, ces = [], []
    for i, ((image_path, label_path, prepared, plan, truth), stem) in enumerate(
            zip(items, unique_stems([p for p, _ in pairs])), 1):
        probs = np.asarray(predict_maps(predictor, prepared, plan=plan, progress=False))
        pred = argmax_classes(probs)
        known = truth < k  # GeoJSON: unannotated pixels are not scored
        ce = mean_cross_entropy(probs[known], truth[known])
        one = pixel_report(pred[known], truth[known], k, CLASS_NAMES)
        total += confusion_matrix(pred[known], truth[known], k)
        ces.append(ce)
        write_colour_labels(out / "predictions" / f"{stem}.png", pred)
        if overlays and not qupath:
            plot_classes(display_on_grid(prepared), pred, out / "overlays" / f"{stem}.png", truth=truth,
                         title=f"{Path(image_path).name}: accuracy {one['pixel_accuracy']:.3f}, "
                               f"CE {ce:.3f}")
        images.append({"image": str(image_path), "label": str(label_path), "cross_entropy": ce,
                       "prediction": f"predictions/{stem}.png", **one})
        if geojson:
            from irpath.inference.outputs import write_evaluate_geojson

            images[-1]["geojson"] = write_evaluate_geojson(out, stem, predictor, probs, prepared,
                                                           simplify=simplify)
        print(f"[{i}/{len(pairs)}] {Path(image_path).name}: accuracy {one['pixel_accuracy']:.3f}, "
              f"mIoU {one['mean_iou']:.3f}, CE {ce:.3f}", file=sys.stderr, flush=True)
    report = {"model": predictor.source, "method": predictor.method, "data": str(data),
              "n_images": len(images), "mean_cross_entropy": float(np.mean(ces)),
              **report_from_confusion(total), "images": images}
    atomic_write_json(out / "report.json", report)
    return report

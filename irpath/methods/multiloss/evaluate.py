"""Evaluation as in BenTaieb et al. (2016), Sec. 3.3, with the GlaS object metrics.

For every image: the class from the scores (class accuracy), Ŝ = argmax P
(eq. 6) against the gland mask (pixel accuracy), and the gland instances, the
connected components of Ŝ, against the annotated instances: GlaS object Dice,
object F1 and object Hausdorff (Sirinukunwattana et al. 2017;
:mod:`irpath.metrics.objects`). Object metrics are reported separately for
benign and malignant images: Dice and Hausdorff as the mean over images, F1
from the true/false positives and false negatives summed over the images.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from scipy import ndimage

from irpath.errors import InvalidValuesError
from irpath.io.glas import CLASSES
from irpath.io.paths import atomic_write_json


def split_maps(maps: np.ndarray, mode: str) -> dict:
    """(H, W, K) inference maps -> ``{"p_gland", "prior", "scores"}`` (absent ones None).

    ``scores`` is (2,) = (Q_benign, Q_malignant), read at pixel (0, 0) of the constant planes.
    """
    from irpath.models.multiloss import inference_channels

    names = inference_channels(mode)
    if maps.shape[-1] != len(names):
        raise InvalidValuesError(f"a {mode!r} multiloss model has {len(names)} maps "
                                 f"({', '.join(names)}), got {maps.shape[-1]}")
    get = lambda n: maps[..., names.index(n)] if n in names else None  # noqa: E731
    scores = None
    if "score_benign" in names:
        scores = np.array([maps[0, 0, names.index("score_benign")],
                           maps[0, 0, names.index("score_malignant")]], np.float64)
    p_gland = None
    if "p_gland" in names:
        p_gland = get("p_gland") / np.maximum(get("p_gland") + get("p_background"), 1e-12)
    return {"p_gland": p_gland, "prior": get("prior"), "scores": scores}


def gland_instances(p_gland: np.ndarray) -> np.ndarray:
    """(H, W) int32 instances: connected components (4-connected) of Ŝ = argmax P, i.e. P_g > P_b."""
    inst, _ = ndimage.label(np.asarray(p_gland) > 0.5)
    return inst.astype(np.int32)


def plot_glands(image, gt_inst, prior, pred_inst, path, title: str = "") -> Path:
    """Four panels of a gland image, as the paper's Fig. 2: input, GT instances, class-specific
    prior (CP), predicted instances.

    Args:
        image: (H, W, 3) RGB in [0, 255] or [0, 1].
        gt_inst: (H, W) GT instances or None; prior: (H, W) in [0, 1] or None;
        pred_inst: (H, W) predicted instances or None.
    """
    from matplotlib.figure import Figure

    image = np.asarray(image, np.float32)
    image = np.clip(image / 255.0 if image.max() > 1.5 else image, 0, 1)
    fig = Figure(figsize=(12, 3.4))
    axes = fig.subplots(1, 4)
    panels = [("input", image, None), ("GT", gt_inst, "nipy_spectral"),
              ("CP (prior)", prior, "jet"), ("output", pred_inst, "nipy_spectral")]
    for ax, (name, arr, cmap) in zip(axes, panels):
        if arr is None:
            ax.text(0.5, 0.5, "n/a", ha="center", va="center")
        elif cmap == "nipy_spectral":
            arr = np.asarray(arr)
            shown = np.where(arr > 0, (arr * 37) % 251 + 4, 0)   # distinct colours per instance
            ax.imshow(shown, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(arr, cmap=cmap, vmin=0, vmax=1)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    from irpath.viz.plots import save_figure

    return save_figure(fig, path, dpi=80, bbox_inches="tight")


def _group(rows: list) -> dict:
    if not rows:
        return {"n_images": 0, "object_dice": None, "object_f1": None, "object_hausdorff": None,
                "pixel_accuracy": None}
    tp, fp, fn = (sum(r["objects"][k] for r in rows) for k in ("tp", "fp", "fn"))
    return {"n_images": len(rows),
            "object_dice": float(np.mean([r["object_dice"] for r in rows])),
            "object_f1": float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 1.0,
            "object_hausdorff": float(np.mean([r["object_hausdorff"] for r in rows])),
            "pixel_accuracy": float(np.mean([r["pixel_accuracy"] for r in rows]))}


def _at_resolution(predictor, data, tiles, *, mpp=None, memory_limit=None):
    """Yield ``(image, maps, gt, grid)`` of every tile (``grid``: its ``downsample`` and ``mpp``); a manifest's slides / pyramids (every row
    with ``mpp``) read as predict reads them at ``mpp`` (default: the run's recorded µm/px),
    their labels brought onto that grid by nearest neighbour (:mod:`irpath.inference.resolution`);
    other images whole, as they are."""
    from irpath.errors import ConfigError
    from irpath.inference.engine import predict_maps
    from irpath.inference.resolution import display_on_grid, evaluation_input, labels_on_grid
    from irpath.io.sources import is_big_image
    from irpath.methods.multiloss.data import is_glas_folder

    glas = is_glas_folder(data)
    if glas and mpp is not None:
        raise ConfigError(f"{data}: GlaS images record no pixel size, so --mpp cannot be applied; evaluate "
                          "without --mpp, or a manifest of slides / pyramidal TIFFs that record theirs")
    for image, gt, name in zip(tiles.images, tiles.labels, tiles.names):
        path = None if glas else Path(data).parent / str(name)
        if path is not None and (mpp is not None or is_big_image(path)):
            prepared, plan = evaluation_input(predictor, path, mpp=mpp, memory_limit=memory_limit)
            maps = np.asarray(predict_maps(predictor, prepared, plan=plan, progress=False))
            yield display_on_grid(prepared), maps, labels_on_grid(gt, prepared, name), prepared
            continue
        maps = np.asarray(predictor.predict(image[None]))[0]
        if not np.isfinite(maps).all():
            raise InvalidValuesError(f"{name}: the model's maps hold non-finite values")
        yield image, maps, gt, SimpleNamespace(downsample=1.0, mpp=None)


def evaluate(predictor, data, out_dir, *, figures: bool = True, geojson: bool = False,
             simplify: float | None = None, mpp: float | None = None, memory_limit: int | None = None) -> dict:
    """Evaluate a multi-loss model and write ``report.json`` and ``figures/*.png``.

    Args:
        predictor: from :func:`irpath.inference.loading.load_predictor`.
        data: a GlaS folder (its test split, from the run's ``split.json``) or a manifest.
        out_dir: the evaluation directory (created).
        figures: write a Fig. 2 style PNG per image.
        geojson, simplify: also write ``geojson/<stem>.geojson`` (QuPath objects of the predictions).
        mpp: read a manifest's images at this µm/px (labels by nearest neighbour onto that grid;
            default: the run's recorded µm/px for slides); see :mod:`irpath.inference.resolution`.
        memory_limit: bytes a whole-image pass may use (else tiled, as predict decides).

    Returns:
        The report: ``class_accuracy``, ``pixel_accuracy``, ``benign`` / ``malignant``
        (object_dice, object_f1, object_hausdorff, pixel_accuracy, n_images), ``images``.
    """
    from irpath.methods.multiloss.data import load_evaluation_tiles
    from irpath.metrics import glas_object_dice, glas_object_hausdorff, object_f1

    cfg = predictor.config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tiles, what = load_evaluation_tiles(data, predictor.source)
    print(f"evaluating on {what}", file=sys.stderr, flush=True)
    rows = []
    read = _at_resolution(predictor, data, tiles, mpp=mpp, memory_limit=memory_limit)
    for i, ((image, maps, gt, grid), cls, name) in enumerate(zip(read, tiles.classes, tiles.names)):
        parts = split_maps(maps, cfg.mode)
        row = {"image": str(name), "class": CLASSES[int(cls)]}
        if parts["scores"] is not None:
            pred_cls = int(np.argmax(parts["scores"]))
            row.update(predicted_class=CLASSES[pred_cls], p_malignant=float(parts["scores"][1]),
                       class_correct=pred_cls == int(cls))
        pred_inst = None
        if parts["p_gland"] is not None:
            pred_inst = gland_instances(parts["p_gland"])
            row.update(pixel_accuracy=float(((pred_inst > 0) == (gt > 0)).mean()),
                       object_dice=float(glas_object_dice(pred_inst, gt)),
                       object_hausdorff=float(glas_object_hausdorff(pred_inst, gt)),
                       objects=object_f1(pred_inst, gt), n_glands=int(pred_inst.max()))
            row["object_f1"] = float(row["objects"]["f1"])
        if figures:
            stem = f"{i:03d}_{Path(str(name)).stem}"
            plot_glands(image, gt, parts["prior"], pred_inst, out / "figures" / f"{stem}.png",
                      title=f"{name}: {row['class']}"
                            + (f", predicted {row['predicted_class']}" if "predicted_class" in row else "")
                            + (f", object Dice {row['object_dice']:.2f}" if pred_inst is not None else ""))
            row["figure"] = f"figures/{stem}.png"
        if geojson:
            from irpath.inference.outputs import write_evaluate_geojson

            row["geojson"] = write_evaluate_geojson(out, f"{i:03d}_{Path(str(name)).stem}", predictor, maps,
                                                    grid, simplify=simplify)
        rows.append(row)
        print(f"[{i + 1}/{len(tiles)}] {name}: " + ", ".join(
            f"{k} {row[k]:.3f}" for k in ("p_malignant", "pixel_accuracy", "object_dice") if k in row),
            file=sys.stderr, flush=True)
    seg = [r for r in rows if "pixel_accuracy" in r]
    cls_rows = [r for r in rows if "class_correct" in r]
    report = {"model": predictor.source, "method": predictor.method, "mode": cfg.mode,
              "data": str(data), "n_images": len(rows),
              "class_accuracy": float(np.mean([r["class_correct"] for r in cls_rows])) if cls_rows else None,
              "pixel_accuracy": float(np.mean([r["pixel_accuracy"] for r in seg])) if seg else None}
    for c in CLASSES:
        report[c] = _group([r for r in seg if r["class"] == c])
    report["images"] = rows
    atomic_write_json(out / "report.json", report)
    return report

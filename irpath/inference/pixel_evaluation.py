"""The default evaluation of a method that declares none: pixel agreement with label images.

``irpath evaluate --model RUN --data MANIFEST`` with an ``image,label`` manifest: each
image is prepared and predicted as ``predict`` does; a one-map model is thresholded
(the method's threshold, else 0.5) against a binary label (non-zero = positive); a
K-map model's argmax is compared with a label image of class ids 0..K-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.errors import ConfigError


def _label(path: Path, k: int) -> np.ndarray:
    from irpath.io.rgb import read_rgb

    lab = np.rint(np.asarray(read_rgb(path).data)[..., 0])
    lab = (lab > 0).astype(np.int64) if k == 1 else lab.astype(np.int64)
    if lab.min() < 0 or lab.max() >= max(k, 2):
        raise ConfigError(f"{path}: label values {int(lab.min())}..{int(lab.max())}, expected "
                          f"0..{max(k, 2) - 1}")
    return lab


def evaluate_pixels(predictor, data, out_dir, *, threshold: float | None = None,
                    tile_limit: int | None = None, memory_limit: int | None = None,
                    mpp: float | None = None) -> dict:
    """Pixel accuracy and per-class Dice of the model's maps on ``data`` (predicted as
    ``predict`` does, whole or tiled as memory allows, at ``mpp`` µm/px: see
    :mod:`irpath.inference.resolution`); writes ``out_dir/report.json`` and returns the report."""
    from irpath.inference.engine import predict_maps
    from irpath.inference.resolution import evaluation_input, labels_on_grid
    from irpath.io import read_manifest
    from irpath.io.paths import atomic_write_json, make_output_dir

    if not data:
        raise ConfigError("evaluate needs --data MANIFEST (an image,label manifest of labelled images)")
    method, cfg = predictor.method_obj, predictor.config
    manifest = read_manifest(data, labels=None)
    thr = method.threshold(cfg, threshold)
    thr = 0.5 if thr is None else thr
    confusion, rows = None, []
    for row in manifest.rows:
        prepared, plan = evaluation_input(predictor, row.image, mpp=mpp, memory_limit=memory_limit,
                                          tile_limit=tile_limit)
        maps = np.asarray(predict_maps(predictor, prepared, plan=plan, progress=False))
        k = maps.shape[-1]
        pred = (maps[..., 0] >= thr).astype(np.int64) if k == 1 else np.argmax(maps, -1)
        truth = labels_on_grid(_label(Path(row.label), k), prepared, row.label)
        n = max(k, 2)
        cm = np.bincount(truth.ravel() * n + pred.ravel(), minlength=n * n).reshape(n, n)
        confusion = cm if confusion is None else confusion + cm
        rows.append({"image": str(row.image), "pixel_accuracy": float(np.trace(cm) / cm.sum())})
    tp = np.diag(confusion).astype(float)
    denom = confusion.sum(0) + confusion.sum(1)
    dice = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
    report = {"model": str(predictor.source), "method": predictor.method, "n_images": len(rows),
              "threshold": thr if confusion.shape[0] == 2 else None,
              "pixel_accuracy": float(tp.sum() / confusion.sum()),
              "dice": [None if np.isnan(d) else float(d) for d in dice],
              "confusion_matrix": confusion.tolist(), "images": rows}
    atomic_write_json(Path(make_output_dir(out_dir)) / "report.json", report)
    return report

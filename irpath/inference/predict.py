"""Activation maps for cube files, written as .npy + PNG + a JSON summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from irpath.inference.loading import Predictor


def prepare_cube(path, axis: np.ndarray):
    """Read a cube file and bring it onto ``axis`` exactly as the training cache does.

    Returns:
        (cube (H, W, C) float32 with NaN and invalid pixels 0, tissue (H, W) bool)
    """
    from irpath.data.cache import prepare_spot

    data, valid, tissue = prepare_spot(path, np.asarray(axis, np.float64))
    data = np.nan_to_num(np.array(data, dtype=np.float32), copy=False, nan=0.0)
    data[~valid] = 0.0
    return data, tissue


def predict_files(predictor: Predictor, inputs, out_dir, *, threshold: float | None = None) -> dict:
    """Run ``predictor`` on each cube file and write ``<stem>.npy``, ``<stem>.png``
    and ``predictions.json`` (tumour fraction per cube) to ``out_dir``."""
    from irpath.metrics import tumour_fraction
    from irpath.viz.plots import amide_image, plot_overlay

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    thr = predictor.config.threshold if threshold is None else threshold
    axis = predictor.axis
    rows = []
    for i, path in enumerate(inputs, 1):
        path = Path(path)
        cube, tissue = prepare_cube(path, axis)
        amap = predictor.predict(cube[None])[0]
        stem = path.stem if path.suffix.lower() != ".hdr" else path.with_suffix("").name
        np.save(out / f"{stem}.npy", amap.astype(np.float32))
        plot_overlay(amide_image(cube, axis), amap, thr, None, out / f"{stem}.png",
                     title=f"{path.name}: activation map")
        frac = tumour_fraction(amap, tissue, thr)
        rows.append({"image": str(path), "map": f"{stem}.npy", "png": f"{stem}.png",
                     "tumour_fraction": float(frac), "tissue_pixels": int(tissue.sum())})
        print(f"[{i}/{len(inputs)}] {path.name}: tumour fraction {frac:.3f}", file=sys.stderr, flush=True)
    summary = {"model": predictor.source, "threshold": thr, "predictions": rows}
    (out / "predictions.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary

"""Spot-level evaluation as in the paper (Schuhmacher et al. 2019, Sec. 4).

Maps are thresholded (default 0.35); a spot's tumour fraction is active tissue
pixels / tissue pixels; the ROC over fraction thresholds gives the spot AUC;
Dice compares the thresholded map (on tissue) with the ground-truth mask over
cancer spots.

The report also scores each spot by its *pooled activation*, the mean of the map
over the tissue: the input of CompSegNet's pooling neuron, so it ranks spots as the
trained spot output o = σ_{α,β,γ}(mean) does (``auc_pooled``). Unlike the fraction
it has no threshold, so spots with no pixel above it are not all tied at 0.
``roc.png`` draws both curves; ``report.json`` holds both (``roc``, ``roc_pooled``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from irpath.io.paths import atomic_save_npy, atomic_write_json



def evaluate(predictor, manifest, out_dir, *, threshold: float | None = None,
             overlays: bool = True, tile_limit: int | None = None, tta: bool = False,
             memory_limit: int | None = None, geojson: bool = False, simplify: float | None = None) -> dict:
    """Evaluate a CompSegNet segmenter on a manifest and write report.json, roc.png, overlays.

    Args:
        predictor: from :func:`irpath.inference.loading.load_predictor`.
        manifest: a manifest CSV path (``mask`` column used for Dice).
        out_dir: the evaluation directory (created).
        threshold: activation threshold; default the model's (0.35).
        overlays: write one overlay PNG per spot.
        tile_limit: if given, spots with more pixels are predicted tile by tile.
        memory_limit: bytes a whole-spot pass may use (default: a quarter of available memory);
            larger spots are tiled (:mod:`irpath.inference.plan`), as ``predict`` does.
        tta: average each map over the 8 flips / quarter turns of the spot.
        geojson, simplify: also write ``geojson/<stem>.geojson`` (QuPath objects of the tumour regions).

    Returns:
        The report dict: auc (tumour fraction), auc_pooled (mean activation), dice_mean,
        dice_std, threshold, spots[...].
    """
    from irpath.data import build_cache
    from irpath.data.prepare import PreparedImage
    from irpath.inference.predict import predict_maps
    from irpath.io import read_manifest
    from irpath.metrics import dice, pooled_activation, roc_auc, roc_curve, tumour_fraction
    from irpath.viz.plots import amide_image, plot_overlay, plot_roc

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    thr = predictor.method_obj.threshold(predictor.config, threshold)
    m = read_manifest(manifest, check_files=True)
    index = build_cache(m, out / "cache", target_axis=predictor.axis)
    (out / "maps").mkdir(exist_ok=True)
    if overlays:
        (out / "overlays").mkdir(exist_ok=True)
    spots = []
    for i, entry in enumerate(index.entries):
        cube, tissue, mask = index.load(i)
        image = Path(m.rows[i].image)
        tissue = tissue.astype(bool)
        spot = PreparedImage(image, cube, cube, None, tissue, None)
        amap = predict_maps(predictor, spot, tile_limit=tile_limit, memory_limit=memory_limit,
                            progress=False, tta=tta)[..., 0]  # refuses non-finite maps
        frac = tumour_fraction(amap, tissue, thr)
        label = int(entry.label)
        stem = f"{i:03d}_{image.with_suffix('').name}"
        d = None
        if label == 1 and mask is not None:
            d = float(dice((amap >= thr) & tissue, mask.astype(bool)))
        atomic_save_npy(out / "maps" / f"{stem}.npy", amap.astype(np.float32))
        if overlays:
            plot_overlay(amide_image(cube, predictor.axis), amap, thr,
                         None if mask is None else mask.astype(bool), out / "overlays" / f"{stem}.png",
                         title=f"{image.name}  label={'cancer' if label else 'cancer-free'}  "
                               f"fraction={frac:.2f}" + ("" if d is None else f"  Dice={d:.2f}"))
        spots.append({"image": str(image), "label": label, "tumour_fraction": float(frac),
                      "pooled_activation": pooled_activation(amap, tissue), "dice": d,
                      "map": f"maps/{stem}.npy"})
        if geojson:
            from irpath.inference.outputs import write_evaluate_geojson

            spots[-1]["geojson"] = write_evaluate_geojson(out, stem, predictor, amap, spot, threshold=thr,
                                                          simplify=simplify)
        print(f"[{i + 1}/{len(index.entries)}] {image.name}: label {label}, fraction {frac:.3f}"
              + ("" if d is None else f", Dice {d:.3f}"), file=sys.stderr, flush=True)
    scores = np.array([s["tumour_fraction"] for s in spots])
    labels = np.array([s["label"] for s in spots])
    report = {"model": predictor.source, "method": predictor.method, "manifest": str(m.path),
              "threshold": thr, "tta": bool(tta), "n_spots": len(spots), "n_cancer": int(labels.sum())}
    if 0 < labels.sum() < len(labels):
        pooled = np.array([s["pooled_activation"] for s in spots])
        fpr, tpr, _ = roc_curve(scores, labels)
        pfpr, ptpr, _ = roc_curve(pooled, labels)
        report["auc"] = float(roc_auc(scores, labels))
        report["auc_pooled"] = float(roc_auc(pooled, labels))
        plot_roc(fpr, tpr, report["auc"], out / "roc.png", title="spot-level ROC",
                 label=f"tumour fraction (map >= {thr:.2f})",
                 others={"pooled activation": (pfpr, ptpr, report["auc_pooled"])})
        report["roc"] = {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}
        report["roc_pooled"] = {"fpr": [float(v) for v in pfpr], "tpr": [float(v) for v in ptpr]}
    else:
        report["auc"] = report["auc_pooled"] = None
        print("note: the manifest has only one class; AUC is undefined", file=sys.stderr)
    dices = [s["dice"] for s in spots if s["dice"] is not None]
    report["dice_mean"] = float(np.mean(dices)) if dices else None
    report["dice_std"] = float(np.std(dices)) if dices else None
    report["n_dice"] = len(dices)
    report["spots"] = spots
    atomic_write_json(out / "report.json", report)
    return report

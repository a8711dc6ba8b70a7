"""Nuclei (Qu et al. 2019) on synthetic tiles: the network with and without the perceptual
loss, and the classical Otsu + distance-transform watershed baseline, on the same test images.
Each network is scored twice: with the paper's argmax post-processing and with the inner-part
threshold chosen on the validation tiles (``evaluate(..., calibrate=VAL)``).

    .venv/bin/python benchmarks/nuclei_synthetic.py [--epochs 6] [--steps 20] [--out /tmp/nuclei_bench]

Trains through the method's own glue (:func:`irpath.methods.nuclei.train.train`: patches,
whole-image targets, joint augmentation, AdamW, run directory) and evaluates through
:func:`irpath.methods.nuclei.evaluate.evaluate` (tiled inference for tiles larger
than 224 px). The perceptual row uses a VGG16 weights file saved from a *randomly
initialised* ``keras.applications.VGG16``: it exercises the code path, it is not
the ImageNet VGG16 of the paper (nothing is downloaded). The encoder is ResNet34
(random init: no ImageNet weights offline). Prints a table; never passes/fails on time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

KEYS = ("f1", "dice", "hausdorff", "aji", "pq")


def baseline(test_dir) -> dict:
    """Otsu + watershed on every test image: image means of the class-agnostic metrics."""
    from irpath.baselines.watershed import otsu_watershed
    from irpath.data.prepare import prepare_image
    from irpath.methods.nuclei.data import find_pairs
    from irpath.methods.nuclei.evaluate import segmentation_metrics
    from irpath.methods.nuclei.labels import read_nuclei_label

    rows = []
    for image, label in find_pairs(test_dir):
        rgb = prepare_image(image, "rgb").data
        rows.append(segmentation_metrics(otsu_watershed(rgb), read_nuclei_label(label)))
    return {k: float(np.mean([r[k] for r in rows])) for k in KEYS}


def _row(report) -> dict:
    row = {k: report["all"][k] for k in KEYS}
    row["accuracy"] = report["all"]["accuracy"]
    for c in ("tumour", "lymphocyte", "stroma"):
        row[f"{c}_f1"] = report[c]["f1"]
    row["inner_threshold"] = report["inner_threshold"]
    return row


def network(name, data, out, args, vgg_weights=None) -> tuple[dict, dict, float]:
    """Train (or resume) one network; its test rows with the paper's argmax and with the
    inner threshold calibrated on the validation tiles; the training seconds."""
    from irpath.inference.loading import load_predictor
    from irpath.methods.nuclei.config import NucleiConfig, NucleiTrainConfig
    from irpath.methods.nuclei.evaluate import evaluate
    from irpath.methods import get_method
    from irpath.train import run as train_run

    model_cfg = NucleiConfig(decoder_filters=args.decoder_filters)
    train_cfg = NucleiTrainConfig(epochs=args.epochs, steps_per_epoch=args.steps, lr=args.lr,
                                  batch_size=args.batch, crop=args.crop, patch=args.patch,
                                  beta=0.1 if vgg_weights else 0.0, vgg_weights=vgg_weights)
    t0 = time.time()
    train_run(get_method("nuclei"), {"train": data / "train", "val": data / "val"}, out / name, model_cfg, train_cfg, verbose=2)
    seconds = time.time() - t0
    predictor = load_predictor(out / name)
    argmax = evaluate(predictor, data / "test", out / f"{name}_eval")
    calibrated = evaluate(predictor, data / "test", out / f"{name}_eval_calibrated", calibrate=data / "val")
    return _row(argmax), _row(calibrated), seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("/tmp/nuclei_bench"))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--steps", type=int, default=20, help="batches per epoch")
    p.add_argument("--lr", type=float, default=1e-3, help="higher than the paper's 1e-4: minutes, not 300 epochs")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--patch", type=int, default=160)
    p.add_argument("--decoder-filters", type=lambda s: [int(v) for v in s.split(",")], default=[64, 32, 32, 32])
    p.add_argument("--n-train", type=int, default=12)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--skip-perceptual", action="store_true")
    p.add_argument("--skip-ce", action="store_true", help="train / evaluate only the perceptual row")
    args = p.parse_args(argv)

    import keras

    from irpath.demo.nuclei import make_nuclei_dataset

    data = args.out / "data"
    for split, n, seed in (("train", args.n_train, 0), ("val", 2, 1), ("test", 4, 2)):
        if not (data / split / "images").is_dir():  # kept: a re-run resumes the same runs
            make_nuclei_dataset(data / split, n=n, size=args.size, seed=seed)
    rows = {"Otsu + watershed (no classes)": (baseline(data / "test"), 0.0)}
    print("baseline", json.dumps(rows["Otsu + watershed (no classes)"][0]), flush=True)
    def add(label, result):
        argmax, calibrated, seconds = result
        rows[label] = (argmax, seconds)
        t = calibrated["inner_threshold"]
        rows[f"{label}, calibrated on val: {'argmax' if t is None else f'inner threshold {t}'}"] = \
            (calibrated, seconds)
        print(label, json.dumps(argmax), json.dumps(calibrated), flush=True)

    if not args.skip_ce:
        add("ResNet34 U-Net, L_ce", network("ce", data, args.out, args))
    if not args.skip_perceptual:
        vgg = args.out / "vgg16_random.weights.h5"
        if not vgg.exists():  # kept: a resumed run must see the same VGG16
            keras.utils.set_random_seed(0)
            keras.applications.VGG16(weights=None, include_top=False).save_weights(vgg)
        add("ResNet34 U-Net, L_ce + 0.1 L_per (random VGG16)", network("per", data, args.out, args, str(vgg)))
    results = args.out / "results.json"
    merged = json.loads(results.read_text()) if results.exists() else {}  # rows of earlier invocations
    merged.update({name: {**row, "train_seconds": seconds} for name, (row, seconds) in rows.items()})
    results.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"\n{args.n_train} training tiles of {args.size} px, {args.epochs} epochs x {args.steps} steps "
          f"x batch {args.batch} (crops {args.crop}), lr {args.lr:g}; 4 test tiles of {args.size} px\n")
    print(f"| method | F1 | Dice | Hausdorff | AJI | PQ | class acc. | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (row, seconds) in rows.items():
        acc = row.get("accuracy")
        print(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in KEYS)
              + f" | {'-' if acc is None else f'{acc:.3f}'} | {seconds:.0f} |")


if __name__ == "__main__":
    main()

"""multiloss (default recipe, scaled to a CPU budget) vs a pixel baseline and a supervised bound,
on the project's gland bed and on the second, independent one.

Beds (GlaS-layout folders, split 70/10/20 by image as ``irpath train multiloss`` does):

* bed 1: :func:`irpath.demo.glands.make_glas_folder`;
* bed 2: :func:`irpath.demo.bed2.glands.make_glas_folder` at ~22 % glands, and at ~3.6 %
  (small, sparse glands: the all-background collapse case).

Rows, on each bed's test images: **multiloss** (``irpath train multiloss`` + ``evaluate``:
class accuracy, GlaS object Dice per grade); the **baseline**: pixel logistic regression
(RGB + box means / stds, :mod:`irpath.baselines.pixel_logistic`) fitted on the training
images, gland instances = its connected components; the **bound**: the same regression fitted
on the test images themselves. The baselines give no class, so their class accuracy is the
majority grade of the training images.

    .venv/bin/python benchmarks/multiloss_beds.py --size 128 --epochs 6 --pretrain 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def pixel_rows(folder, run, resize):
    """Object Dice per grade of the logistic baseline (train fit) and bound (test fit)."""
    from scipy import ndimage

    from irpath.baselines import pixel_logistic
    from irpath.io.glas import prepare_glas, read_glas
    from irpath.metrics import glas_object_dice

    split = json.loads((Path(run) / "split.json").read_text())
    records = read_glas(folder)
    part = lambda names: prepare_glas([r for r in records if r.name in set(names)], resize, resize)  # noqa: E731
    train, test = part(split["train"]), part(split["test"])
    majority = float(max(np.mean(test.classes == c) for c in (np.bincount(train.classes).argmax(),)))
    out = {}
    for name, fit_on in (("baseline", train), ("bound", test)):
        model = pixel_logistic.fit(fit_on.images, (fit_on.labels > 0).astype(int), n_classes=2,
                                   box_sizes=(3, 7, 15), seed=0)
        dice = {0: [], 1: []}
        for image, gt, c in zip(test.images, test.labels, test.classes):
            inst, _ = ndimage.label(pixel_logistic.predict(model, image) == 1)
            dice[int(c)].append(glas_object_dice(inst, gt))
        out[name] = {"class_accuracy": majority, "benign": float(np.mean(dice[0] or [np.nan])),
                     "malignant": float(np.mean(dice[1] or [np.nan]))}
    return out


def method_row(folder, work, args):
    from irpath.cli.main import main as irpath

    run, ev = work / "run", work / "eval"
    t = time.time()
    flags = ["--resize", str(args.size), "--tile", str(args.size // 2), "--crop", str(args.size // 2),
             "--filters", str(args.filters), "--depth", "3", "--batch-size", str(args.batch),
             "--lr", str(args.lr), "--epochs", str(args.epochs), "--pretrain-epochs", str(args.pretrain),
             "--seed", str(args.seed)]
    assert irpath(["train", "multiloss", "--data", str(folder), "--out", str(run)] + flags) == 0
    assert irpath(["evaluate", "multiloss", "--model", str(run), "--data", str(folder),
                   "--out", str(ev)]) == 0
    r = json.loads((ev / "report.json").read_text())
    return run, {"class_accuracy": r["class_accuracy"], "benign": r["benign"]["object_dice"],
                 "malignant": r["malignant"]["object_dice"], "seconds": round(time.time() - t)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--pretrain", type=int, default=3)
    p.add_argument("--filters", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--beds", nargs="+", default=["1", "2", "2-sparse"])
    args = p.parse_args(argv)
    from irpath.demo import glands
    from irpath.demo.bed2 import glands as glands2

    makers = {"1": lambda d: glands.make_glas_folder(d, n_images=args.images, size=args.size, seed=args.seed),
              "2": lambda d: glands2.make_glas_folder(d, n_images=args.images, height=args.size,
                                                      seed=args.seed, foreground=0.22),
              "2-sparse": lambda d: glands2.make_glas_folder(d, n_images=args.images, height=args.size,
                                                             seed=args.seed, scale=0.6, foreground=0.036)}
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bed in args.beds:
            work = Path(tmp) / bed
            folder = makers[bed](work / "glas")
            fg = np.mean([np.mean(np.asarray(__import__("PIL.Image", fromlist=["x"]).open(f)) > 0)
                          for f in sorted(folder.glob("*_anno.bmp"))])
            run, row = method_row(folder, work, args)
            rows = {"multiloss": row, **pixel_rows(folder, run, args.size)}
            table[bed] = {"foreground": round(float(fg), 3), **rows}
            print(f"\n== bed {bed} (glands {fg:.1%} of the area)", flush=True)
            for name, r in rows.items():
                print(f"{name:<10} class acc {r['class_accuracy']:.3f}  object Dice benign "
                      f"{r['benign']:.3f} malignant {r['malignant']:.3f}", flush=True)
    print(json.dumps({"args": vars(args), "table": table}, indent=1))


if __name__ == "__main__":
    sys.exit(main())

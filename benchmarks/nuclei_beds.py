"""nuclei (a recipe file trained for a wall-clock budget, calibrated on --val) vs Otsu + watershed
and a supervised bound, on the project's nuclei bed and on the second, independent one (H&E-like
and fluorescence-like tiles of :mod:`irpath.demo.bed2.nuclei`).

Rows per bed, on the same test tiles (image means of the class-agnostic F1 / Dice / Hausdorff /
AJI / PQ): the **method** (``irpath train nuclei --config RECIPE --time-limit BUDGET``, by default
``models/nuclei-small``; training calibrates the post-processing on the validation tiles and
records it; ``evaluate`` uses it); the **baseline**, Otsu + distance-transform watershed
(:mod:`irpath.baselines.watershed`; on fluorescence tiles of the inverted image, whose dark
nuclei it expects); the **bound**, the same watershed split of the *true* foreground mask
(what the instance step reaches from a perfect semantic segmentation).

    .venv/bin/python benchmarks/nuclei_beds.py                  # 3 beds x 3 min
    .venv/bin/python benchmarks/nuclei_beds.py --budget-min 1   # quick
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from nuclei_synthetic import KEYS, _row  # noqa: E402


def baseline_and_bound(test_dir, invert: bool) -> tuple[dict, dict]:
    from scipy import ndimage

    from irpath.baselines.watershed import _markers, flood, otsu_watershed
    from irpath.data.prepare import prepare_image
    from irpath.methods.nuclei.data import find_pairs
    from irpath.methods.nuclei.evaluate import segmentation_metrics
    from irpath.methods.nuclei.labels import read_nuclei_label

    base, bound = [], []
    for image, label in find_pairs(test_dir):
        rgb = prepare_image(image, "rgb").data
        gt = read_nuclei_label(label)
        base.append(segmentation_metrics(otsu_watershed(255.0 - rgb if invert else rgb), gt))
        fg = gt > 0
        dist = ndimage.distance_transform_edt(fg)
        bound.append(segmentation_metrics(flood(-dist, _markers(dist, 3), fg), gt))
    mean = lambda rows: {k: float(np.mean([r[k] for r in rows])) for k in KEYS}  # noqa: E731
    return mean(base), mean(bound)


def method(data, out, args) -> tuple[dict, float]:
    from irpath.config import read_recipe
    from irpath.inference.loading import load_predictor
    from irpath.methods import get_method
    from irpath.methods.nuclei.evaluate import evaluate
    from irpath.train import run as train_run

    _, model_cfg, train_cfg = read_recipe(args.recipe, get_method, method="nuclei")
    # the tiles are args.size px: crops of args.crop from whole-tile patches
    train_cfg = dataclasses.replace(train_cfg, crop=args.crop, patch=args.size, beta=0.0,
                                    epochs=100000, seed=args.seed)
    t0 = time.time()
    train_run(get_method("nuclei"), {"train": data / "train", "val": data / "val"}, out, model_cfg, train_cfg,
              verbose=2, export=False, time_limit=60.0 * args.budget_min)
    report = evaluate(load_predictor(out), data / "test", out.parent / f"{out.name}_eval", overlays=False)
    row = _row(report)
    row["split"] = report.get("split")
    row["min_area"] = json.loads((out / "config.json").read_text())["model"]["min_area"]
    return row, time.time() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default=str(ROOT / "models" / "nuclei-small" / "config.json"),
                   help="the method's recipe file (models/nuclei is the paper's ResNet34)")
    p.add_argument("--budget-min", type=float, default=3.0, help="training wall clock per bed (--time-limit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop", type=int, default=96, help="training crop side (the tiles are --size)")
    p.add_argument("--size", type=int, default=128, help="tile side")
    p.add_argument("--n-train", type=int, default=8, help="training tiles per bed (2 val, 4 test)")
    p.add_argument("--beds", nargs="+", default=["1", "2-he", "2-fluorescence"])
    p.add_argument("--json-out", default=None, help="also write the table here")
    args = p.parse_args(argv)
    from irpath.demo import nuclei as bed1
    from irpath.demo.bed2 import nuclei as bed2

    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bed in args.beds:
            data = Path(tmp) / bed
            for split, n, seed in (("train", args.n_train, 0), ("val", 2, 1), ("test", 4, 2)):
                if bed == "1":
                    bed1.make_nuclei_dataset(data / split, n=n, size=args.size, seed=seed)
                else:
                    bed2.make_nuclei_dataset(data / split, n=n, size=args.size, seed=seed,
                                             stain=bed.split("-", 1)[1])
            base, bound = baseline_and_bound(data / "test", invert=bed == "2-fluorescence")
            row, seconds = method(data, Path(tmp) / f"{bed}_run", args)
            table[bed] = {"method": row, "baseline": base, "bound": bound, "train_seconds": round(seconds)}
            print(f"\n== bed {bed}", flush=True)
            print("| row | " + " | ".join(KEYS) + " |")
            chosen = (f"threshold {row['inner_threshold'] or 'argmax'}, min area {row['min_area']}, "
                      f"split {row['split'] or 'none'}")
            for name, r in ((f"nuclei ({Path(args.recipe).parent.name}, {args.budget_min:g} min; calibrated at "
                             f"train: {chosen})", row),
                            ("Otsu + watershed", base), ("bound: watershed of true mask", bound)):
                print(f"| {name} | " + " | ".join(f"{r[k]:.3f}" for k in KEYS) + " |", flush=True)
    doc = json.dumps({"args": vars(args), "table": table}, indent=1)
    print(doc)
    if args.json_out:
        Path(args.json_out).write_text(doc + "\n")


if __name__ == "__main__":
    main()

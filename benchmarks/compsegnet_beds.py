"""CompSegNet on two independent IR spot beds, beside a pixel baseline and a supervised bound.

The beds (made once in ``OUT/bed1`` and ``OUT/bed2``):

* **bed 1**: :func:`irpath.demo.synthetic.make_tma`, the clean ("easy") setting, spot sizes
  drawn from ``--size-range`` (default 32-48 px);
* **bed 2**: :func:`irpath.demo.bed2.spots.make_bed`, written independently: other bands
  and band shapes, glands / ducts / blobs of tumour at 3-60 % of the tissue with objects
  0.25x-4x, correlated noise, baseline drift and a van de Hulst scatter term.

On each bed, in the same run:

* each **recipe** (``NAME=FLAGS``: ``irpath train compsegnet`` flags, e.g. ``--config
  models/compsegnet-hard/config.json``, appended after ``--base``), trained and evaluated
  through the CLI from spot labels only (``irpath evaluate compsegnet``'s report: Dice over
  the test cancer spots, spot AUC by tumour fraction and by pooled activation);
* the **pixel baseline**: a logistic regression on a few band features (absorbance at
  eight band positions over the amide I peak, plus their 3 x 3 means), fitted with the
  tumour masks of only ``--baseline-spots`` training spots;
* the **supervised bound**: ``benchmarks/hard_phantom.py``'s ``fit_bound`` (logistic on
  vector-normalised SG-derivative spectra of every training spot's pixels, with the masks).

Both logistic models take their pixel threshold from the validation spots. Each row prints
Dice mean +- sd, spot AUC(s) and Dice / bound; results go to ``--json`` (default
``OUT/results.json``) as each row finishes; a finished run is reused.

CPU-modest on purpose: 24/8/16 spots of 32-48 px and the reduced U-Net (``--base``: 16
filters, depth 3, 20 epochs): 3-12 min per row measured on 2 shared, busy cores (load 6-11).

    .venv/bin/python benchmarks/compsegnet_beds.py --out /tmp/cbeds \\
        --recipe 'paper=--config models/compsegnet/config.json' \\
        --recipe 'recommended=--config models/compsegnet-recommended/config.json'
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hard_phantom import (dice_scores, drop_caches, evaluate_bound, fit_bound, load_split,  # noqa: E402
                          parse_recipe, run_recipe)

#: The reduced network and a short schedule (given after --config, so it wins over the recipe's).
BASE_FLAGS = "--filters 16 --depth 3 --epochs 20 --batch-size 7"
#: Band positions (cm^-1) of the pixel baseline, each over the amide I peak.
BASELINE_BANDS = (1740, 1545, 1455, 1338, 1240, 1085, 1030, 970)


def band_features(cube: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """(H, W, C) -> (H, W, 8): absorbance at :data:`BASELINE_BANDS` / amide I peak (0 off tissue)."""
    amide = cube[..., (axis <= 1680) & (axis >= 1620)].max(axis=-1)
    idx = [int(np.argmin(np.abs(axis - b))) for b in BASELINE_BANDS]
    ok = amide > 1e-6
    feats = np.zeros(cube.shape[:2] + (len(idx),), np.float64)
    feats[ok] = cube[ok][:, idx] / amide[ok][:, None]
    return feats


def fit_baseline(spots, axis, n_spots: int, seed: int = 0):
    """Pixel logistic on :func:`band_features` (+ 3 x 3 means), fitted on ``n_spots`` training
    spots (half cancer, the first ones of each label)."""
    from irpath.baselines import pixel_logistic

    cancer = [s for s in spots if s["label"] == 1][: max(1, n_spots - n_spots // 2)]
    free = [s for s in spots if s["label"] == 0][: n_spots // 2]
    chosen = cancer + free
    return pixel_logistic.fit([band_features(s["cube"], axis) for s in chosen],
                              [s["mask"].astype(np.int64) for s in chosen], n_classes=2,
                              box_sizes=(3,), seed=seed)


def evaluate_baseline(model, axis, val, test) -> dict:
    """Spot AUC (tumour fraction) and Dice of the baseline on ``test``; threshold from ``val``."""
    from irpath.baselines import pixel_logistic
    from irpath.metrics import roc_auc

    def maps(spots):
        return [pixel_logistic.predict_proba(model, band_features(s["cube"], axis))[..., 1][s["tissue"]]
                for s in spots]

    grid = np.linspace(0.05, 0.95, 19)
    vp = maps(val)
    thr = float(grid[int(np.argmax([dice_scores(vp, val, t).mean() for t in grid]))])
    p = maps(test)
    d = dice_scores(p, test, thr)
    labels = np.array([s["label"] for s in test])
    return {"threshold": thr, "dice_mean": float(d.mean()), "dice_std": float(d.std()),
            "spot_auc": float(roc_auc(np.array([(q >= thr).mean() for q in p]), labels)),
            "pixel_auc": float(roc_auc(np.concatenate(p), np.concatenate(
                [s["mask"][s["tissue"]] for s in test]).astype(int)))}


def make_beds(out: Path, args) -> dict:
    """Both beds under ``out`` (made once): {"bed1": folder, "bed2": folder}."""
    from irpath.demo.bed2.spots import make_bed
    from irpath.demo.synthetic import make_tma

    n = dict(n_train=args.n_train, n_val=args.n_val, n_test=args.n_test)
    beds = {"bed1": out / "bed1", "bed2": out / "bed2"}
    for name, folder in beds.items():
        if not (folder / "test" / "manifest.csv").exists():
            t0 = time.time()
            if name == "bed1":
                make_tma(folder, seed=args.data_seed, setting="easy", size_range=tuple(args.size_range), **n)
            else:
                make_bed(folder, seed=args.data_seed, size_range=tuple(args.size_range), **n)
            print(f"{name}: {args.n_train}/{args.n_val}/{args.n_test} spots of "
                  f"{args.size_range[0]}-{args.size_range[1]} px, seed {args.data_seed}, "
                  f"{time.time() - t0:.1f} s", flush=True)
    return beds


def _save(results: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--out", required=True, help="working folder (beds, runs, results)")
    p.add_argument("--n-train", type=int, default=24)
    p.add_argument("--n-val", type=int, default=8)
    p.add_argument("--n-test", type=int, default=16)
    p.add_argument("--size-range", type=int, nargs=2, default=(32, 48), metavar=("MIN", "MAX"))
    p.add_argument("--data-seed", type=int, default=1)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds per recipe")
    p.add_argument("--base", default=BASE_FLAGS,
                   help=f"train flags after each recipe's (default '{BASE_FLAGS}')")
    p.add_argument("--recipe", action="append", default=[], help="NAME=FLAGS (repeatable)")
    p.add_argument("--beds", nargs="+", default=["bed1", "bed2"], choices=["bed1", "bed2"])
    p.add_argument("--baseline-spots", type=int, default=4,
                   help="training spots whose masks the pixel baseline sees (default 4)")
    p.add_argument("--json", default=None, help="results JSON (default OUT/results.json)")
    args = p.parse_args(argv)

    from irpath.demo.bed2.spots import AXIS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = Path(args.json or out / "results.json")
    results = json.loads(path.read_text()) if path.exists() else {"refs": {}, "rows": []}
    beds = make_beds(out, args)
    for bed in args.beds:
        data = beds[bed]
        if bed not in results["refs"]:
            t0 = time.time()
            train, val, test = (load_split(data / s / "manifest.csv") for s in ("train", "val", "test"))
            results["refs"][bed] = {
                "bound": evaluate_bound(fit_bound(train), val, test),
                "baseline": evaluate_baseline(fit_baseline(train, AXIS, args.baseline_spots), AXIS, val, test),
                "baseline_spots": args.baseline_spots, "seconds": round(time.time() - t0, 1)}
            _save(results, path)
        ref = results["refs"][bed]
        b = ref["bound"]["dice_mean"]
        print(f"\n{bed}: {'row':<34} {'spot AUC':>8} {'pooled':>6} {'Dice':>13} {'/bound':>6} {'time':>6}")
        for name in ("bound", "baseline"):
            r = ref[name]
            label = "supervised bound (all masks)" if name == "bound" else \
                f"pixel baseline ({ref['baseline_spots']} masks)"
            print(f"{bed}: {label:<34} {r['spot_auc']:>8.3f} {'-':>6} {r['dice_mean']:>6.3f} +- "
                  f"{r['dice_std']:.2f} {r['dice_mean'] / b:>6.2f}", flush=True)
        for text in args.recipe:
            recipe = parse_recipe(text)
            for seed in args.seeds:
                row = run_recipe(recipe, seed, data, out / f"runs-{bed}", shlex.split(args.base))
                row.update(bed=bed, base=args.base, bound_dice=b, ratio=row["dice_mean"] / b,
                           baseline_dice=ref["baseline"]["dice_mean"])
                results["rows"] = [r for r in results["rows"]
                                   if (r["bed"], r["recipe"], r["seed"]) != (bed, row["recipe"], seed)]
                results["rows"].append(row)
                _save(results, path)
                drop_caches(Path(row["run"]))
                pooled = "-" if row["auc_pooled"] is None else f"{row['auc_pooled']:.3f}"
                print(f"{bed}: {row['recipe'] + f' (seed {seed})':<34} {row['auc']:>8.3f} {pooled:>6} "
                      f"{row['dice_mean']:>6.3f} +- {row['dice_std']:.2f} {row['ratio']:>6.2f} "
                      f"{row['seconds']:>5.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

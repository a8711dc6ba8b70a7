"""CompSegNet recipes on the hard synthetic phantom, beside a supervised pixel bound.

Generates the ``"hard"`` synthetic TMA (:mod:`irpath.demo.synthetic`: weak tumour
signal, twice the noise, tumours of 5-25 % of the tissue, uncorrected Mie-like
scatter, spot sizes 32-96 px), then

* fits the **supervised pixel bound**: a logistic regression fitted *with the
  tumour masks* on the training spots' tissue pixels (vector-normalised spectra,
  then a Savitzky-Golay first derivative, window 9, order 2), pure numpy/scipy
  (:func:`irpath.baselines.pixel_logistic.fit` on the spectra alone). Its pixel
  threshold is the one that maximises the mean Dice over the *validation* cancer
  spots (the Dice at 0.5 is printed too); reported on the test spots: pixel AUC
  over all tissue pixels, Dice over the cancer spots, and a spot AUC from the
  tumour fraction at that threshold;
* for each recipe, runs ``irpath train compsegnet`` and ``irpath evaluate compsegnet``
  through the CLI (subprocesses of the same Python) and reads the spot AUCs (tumour
  fraction, the paper's, and pooled activation) and Dice from ``irpath evaluate``'s own
  report.json;
* with ``--fresh-test N``, scores every row's model and the bound (still fitted on the
  training spots, threshold from the validation spots) on N new test spots of data seed
  ``--data-seed + 1``: a check on spots no recipe choice has seen.

A recipe is ``NAME=FLAGS``: ``irpath train compsegnet`` flags appended after the
common ``--base`` flags (later flags win), plus two optional tokens of this script:
``correct=emsc`` (or ``correct=me-emsc``, converged ME-EMSC, or ``correct=learned``, a
corrector trained on the train split and reused on val/test) corrects every split with ``irpath correct``
first (``reference=FILE`` adds ``--reference FILE``), and ``threshold=T`` passes ``--threshold T`` to ``irpath evaluate``.
Each row prints recipe, seed, spot AUC, Dice (mean +- sd over the test cancer
spots), the bound's Dice, Dice / bound and wall time; results are appended to
``--json`` as each run finishes. ``--ensemble K`` adds, per recipe, a row for
``irpath ensemble`` of every K of its ``--seeds`` runs (seed column ``0+1+2``).
A run whose training and evaluation finished is reused, not trained again.

    .venv/bin/python benchmarks/hard_phantom.py --out /tmp/hard --seeds 0 \\
        --recipe 'default=' --recipe 'vn-d1=--vector-norm --sg-deriv 1'
    .venv/bin/python benchmarks/hard_phantom.py --out /tmp/hard --bound-only
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: The common flags: the demo's model size (16 filters, depth 3), trains in minutes on CPU.
BASE_FLAGS = "--filters 16 --depth 3 --epochs 40 --lr 1e-3 --batch-size 7"
BOUND_PREPROCESS = dict(vector_norm=True, sg_deriv=1, sg_window=9, sg_order=2)


def load_split(manifest) -> list[dict]:
    """Spots of a synthetic manifest: [{"cube": (H, W, C), "tissue": (H, W), "mask": (H, W), "label"}]."""
    import spectral.io.envi as envi
    from PIL import Image

    manifest = Path(manifest)
    spots = []
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cube = np.asarray(envi.open(str(manifest.parent / row["image"])).load(), dtype=np.float32)
            with Image.open(manifest.parent / row["mask"]) as im:
                mask = np.asarray(im) > 0
            spots.append({"cube": cube, "tissue": np.any(cube != 0, axis=-1), "mask": mask,
                          "label": int(row["label"])})
    return spots


def bound_features(cube: np.ndarray, tissue: np.ndarray) -> np.ndarray:
    """(H, W, C) cube -> (N, C) features of its N tissue pixels: vector norm, then SG 1st derivative."""
    from irpath.spectra.preprocess import PreprocessSpec, preprocess_spectra

    return preprocess_spectra(cube[tissue], PreprocessSpec(**BOUND_PREPROCESS))


def fit_bound(spots: list[dict], *, n_samples: int = 60_000, l2: float = 1e-3, seed: int = 0):
    """The supervised pixel bound: logistic regression tumour vs other tissue, fitted with the masks.

    Args:
        spots: training spots as from :func:`load_split` (cancer and cancer-free).
        n_samples: tissue pixels drawn at random for the fit.
        l2: L2 penalty on the (standardised-feature) weights.
        seed: sampling seed.

    Returns:
        A :class:`irpath.baselines.pixel_logistic.PixelLogistic` on :func:`bound_features`.
    """
    from irpath.baselines import pixel_logistic

    x = np.concatenate([bound_features(s["cube"], s["tissue"]) for s in spots])
    y = np.concatenate([s["mask"][s["tissue"]] for s in spots]).astype(np.int64)
    return pixel_logistic.fit([x[None]], [y[None]], n_classes=2, box_sizes=(), n_samples=n_samples,
                              l2=l2, seed=seed)


def bound_maps(model, spots: list[dict]) -> list[np.ndarray]:
    """Tumour probability per tissue pixel, one (N,) array per spot."""
    from irpath.baselines import pixel_logistic

    return [pixel_logistic.predict_proba(model, bound_features(s["cube"], s["tissue"])[None])[0, :, 1]
            for s in spots]


def dice_scores(probs, spots, threshold: float) -> np.ndarray:
    """Dice of ``probs >= threshold`` against the mask, over the cancer spots."""
    from irpath.metrics import dice

    return np.array([dice(p >= threshold, s["mask"][s["tissue"]])
                     for p, s in zip(probs, spots) if s["label"] == 1])


def evaluate_bound(model, val: list[dict], test: list[dict]) -> dict:
    """Pixel AUC, spot AUC and Dice of the bound on ``test``; threshold chosen on ``val``."""
    from irpath.metrics import roc_auc

    val_p = bound_maps(model, val)
    grid = np.linspace(0.05, 0.95, 19)
    val_dice = [dice_scores(val_p, val, t).mean() for t in grid]
    thr = float(grid[int(np.argmax(val_dice))])
    p = bound_maps(model, test)
    pix_scores = np.concatenate(p)
    pix_labels = np.concatenate([s["mask"][s["tissue"]] for s in test]).astype(int)
    fractions = np.array([(q >= thr).mean() for q in p])
    labels = np.array([s["label"] for s in test])
    d, d50 = dice_scores(p, test, thr), dice_scores(p, test, 0.5)
    return {"threshold": thr, "pixel_auc": float(roc_auc(pix_scores, pix_labels)),
            "spot_auc": float(roc_auc(fractions, labels)),
            "dice_mean": float(d.mean()), "dice_std": float(d.std()),
            "dice_mean_at_0.5": float(d50.mean()), "dice_std_at_0.5": float(d50.std())}


def parse_recipe(text: str) -> dict:
    """``NAME=FLAGS`` -> {"name", "train": [flags], "correct": method|None,
    "threshold": float|None, "reference": FILE|None}."""
    name, _, flags = text.partition("=")
    recipe = {"name": name.strip(), "train": [], "correct": None, "threshold": None, "reference": None}
    for token in shlex.split(flags):
        if token.startswith("correct="):
            recipe["correct"] = token.split("=", 1)[1]
        elif token.startswith("reference="):
            recipe["reference"] = token.split("=", 1)[1]
        elif token.startswith("threshold="):
            recipe["threshold"] = float(token.split("=", 1)[1])
        else:
            recipe["train"].append(token)
    return recipe


def irpath(*args, log=None) -> None:
    """Run ``irpath ARGS`` in a subprocess of this Python; raise with its stderr tail on failure."""
    cmd = [sys.executable, "-m", "irpath", *map(str, args)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log is not None:
        Path(log).write_text(" ".join(cmd) + "\n" + proc.stdout)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}")


def corrected(data: Path, method: str, reference: str | None = None) -> dict:
    """Manifests of ``data`` corrected by ``irpath correct --method METHOD`` (made once,
    reused), with ``--reference REFERENCE`` when given."""
    out = {}
    tag = method if reference is None else f"{method}-ref-{Path(reference).stem}"
    for split in ("train", "val", "test"):
        folder = data / f"corrected-{tag}" / split
        if not (folder / "manifest.csv").exists():
            extra = []  # learned: trained on the train split, reused on val and test
            if method == "learned" and split != "train":
                extra = ["--corrector", data / f"corrected-{tag}" / "train" / "corrector.keras"]
            if reference is not None:
                extra += ["--reference", reference]
            irpath("correct", "--input", data / split / "manifest.csv", "--out", folder,
                   "--method", method, "--no-progress", *extra)
        out[split] = folder / "manifest.csv"
    return out


def _manifests(recipe: dict, data: Path) -> dict:
    return ({s: data / s / "manifest.csv" for s in ("train", "val", "test")}
            if recipe["correct"] is None else corrected(data, recipe["correct"], recipe["reference"]))


SCORES = ("auc", "auc_pooled", "dice_mean", "dice_std", "threshold")


def _row(recipe: dict, seed, report: dict, run: Path, t0: float, **extra) -> dict:
    """One results row from ``irpath evaluate``'s report (``auc_pooled`` is None in
    reports written before it existed)."""
    return {"recipe": recipe["name"], "flags": " ".join(recipe["train"]), "correct": recipe["correct"],
            "seed": seed, **{k: report.get(k) for k in SCORES},
            "seconds": round(time.time() - t0, 1), "run": str(run), **extra}


def _evaluate(recipe: dict, model: Path, manifest: Path, run: Path, name: str = "eval") -> dict:
    """``irpath evaluate`` into ``run/name`` (reused when its report exists for ``name != "eval"``)."""
    report = run / name / "report.json"
    if name != "eval" and report.exists():
        return json.loads(report.read_text())
    extra = [] if recipe["threshold"] is None else ["--threshold", recipe["threshold"]]
    irpath("evaluate", "compsegnet", "--model", model, "--manifest", manifest,
           "--out", run / name, *extra, log=run.parent / f"{run.name}.{name}.log")
    return json.loads(report.read_text())


def fresh_scores(recipe: dict, run: Path, manifest: Path, bound: dict) -> dict:
    """The row's model on the fresh test spots: its scores and Dice / the bound's Dice there."""
    if recipe["correct"] is not None:
        return {}  # the fresh spots are not corrected
    report = _evaluate(recipe, run / "model", manifest, run, name="fresh-eval")
    scores = {k: report.get(k) for k in SCORES}
    return {**scores, "bound_dice": bound["dice_mean"], "ratio": scores["dice_mean"] / bound["dice_mean"]}


def run_recipe(recipe: dict, seed: int, data: Path, runs: Path, base: list[str]) -> dict:
    """Train + evaluate one recipe through the CLI (a finished, evaluated run is reused);
    returns the row."""
    manifests = _manifests(recipe, data)
    run = runs / f"{recipe['name']}-s{seed}"
    t0 = time.time()
    if (run / "eval" / "report.json").exists() and (run / "model" / "train_summary.json").exists():
        report = json.loads((run / "eval" / "report.json").read_text())
        if "auc_pooled" not in report:  # evaluated before irpath reported it
            report = _evaluate(recipe, run / "model", manifests["test"], run)
    else:
        irpath("train", "compsegnet", "--train-manifest", manifests["train"], "--val-manifest",
               manifests["val"], "--out", run / "model", *base, *recipe["train"], "--seed", seed,
               log=run.parent / f"{run.name}.train.log")
        report = _evaluate(recipe, run / "model", manifests["test"], run)
    summary_path = run / "model" / "train_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return _row(recipe, seed, report, run, t0, best_epoch=summary.get("best_epoch"))


def run_ensemble(recipe: dict, seeds, data: Path, runs: Path) -> dict:
    """``irpath ensemble`` of the recipe's runs for ``seeds``, then ``irpath evaluate``; the row."""
    name = f"{recipe['name']}-ens-s{'+'.join(map(str, seeds))}"
    run = runs / name
    t0 = time.time()
    if not (run / "model" / "segmenter.keras").exists():
        irpath("ensemble", "--no-export", "--out", run / "model",
               *[runs / f"{recipe['name']}-s{s}" / "model" for s in seeds], log=runs / f"{name}.ensemble.log")
    report = _evaluate(recipe, run / "model", _manifests(recipe, data)["test"], run)
    return _row(recipe, "+".join(map(str, seeds)), report, run, t0, ensemble=len(seeds), best_epoch=None)


def drop_caches(run: Path) -> int:
    """Delete the spot caches under a finished row's folder (its training cache and each
    evaluation's): they are rebuilt from the manifests when needed and are most of a run's
    size (about 40 GB over this benchmark's rows). Returns the bytes freed."""
    freed = 0
    for cache in list(run.glob("*/cache")):
        if cache.is_dir():
            freed += sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
            shutil.rmtree(cache)
    return freed


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def make_data(out: Path, args, *, n=None, seed=None) -> Path:
    """The hard phantom in ``out/data`` (made once): ``n`` = (train, val, test) spots and
    ``seed`` default to the arguments'."""
    from irpath.demo.synthetic import make_tma

    n = n or (args.n_train, args.n_val, args.n_test)
    seed = args.data_seed if seed is None else seed
    data = out / "data"
    if not (data / "test" / "manifest.csv").exists():
        t0 = time.time()
        make_tma(data, n_train=n[0], n_val=n[1], n_test=n[2], seed=seed, setting="hard",
                 size_range=tuple(args.size_range))
        print(f"hard phantom: {n[0]}/{n[1]}/{n[2]} spots of {args.size_range[0]}-{args.size_range[1]} px, "
              f"seed {seed}, {time.time() - t0:.1f} s", flush=True)
    return data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="working folder (data, runs, results)")
    p.add_argument("--n-train", type=int, default=60)
    p.add_argument("--n-val", type=int, default=10)
    p.add_argument("--n-test", type=int, default=40)
    p.add_argument("--size-range", type=int, nargs=2, default=(32, 96), metavar=("MIN", "MAX"))
    p.add_argument("--data-seed", type=int, default=1)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--base", default=BASE_FLAGS, help=f"common train flags (default '{BASE_FLAGS}')")
    p.add_argument("--recipe", action="append", default=[], help="NAME=FLAGS (repeatable)")
    p.add_argument("--json", default=None, help="results JSON (default OUT/results.json)")
    p.add_argument("--bound-only", action="store_true", help="only the data and the supervised bound")
    p.add_argument("--fresh-test", type=int, default=0, metavar="N",
                   help="also score every row (and the bound) on N fresh test spots, data seed "
                        "--data-seed + 1, that no recipe choice has seen (default 0: none)")
    p.add_argument("--ensemble", type=int, nargs="+", default=[], metavar="K",
                   help="also evaluate `irpath ensemble` of every K of the recipe's --seeds runs")
    p.add_argument("--keep-caches", action="store_true",
                   help="keep each run's spot caches (default: delete them once its row is written)")
    args = p.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.json or out / "results.json")
    results = json.loads(results_path.read_text()) if results_path.exists() else {"rows": []}
    data = make_data(out, args)
    key = f"data_seed={args.data_seed} n={args.n_train}/{args.n_val}/{args.n_test} " \
          f"size={args.size_range[0]}-{args.size_range[1]}"
    results.setdefault("bounds", {})
    if key not in results["bounds"]:
        t0 = time.time()
        train, val, test = (load_split(data / s / "manifest.csv") for s in ("train", "val", "test"))
        model = fit_bound(train)
        results["bounds"][key] = evaluate_bound(model, val, test)
        results["bounds"][key]["seconds"] = round(time.time() - t0, 1)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    b = results["bounds"][key]
    print(f"supervised bound ({key}): pixel AUC {b['pixel_auc']:.3f}, spot AUC {b['spot_auc']:.3f}, "
          f"Dice {b['dice_mean']:.3f} +- {b['dice_std']:.3f} at threshold {b['threshold']:.2f} "
          f"(chosen on val; at 0.5: {b['dice_mean_at_0.5']:.3f})", flush=True)
    fresh = None
    if args.fresh_test:
        fresh = make_data(out / "fresh", args, n=(2, 2, args.fresh_test), seed=args.data_seed + 1)
        fkey = f"{key} fresh: data_seed={args.data_seed + 1} n_test={args.fresh_test}"
        if fkey not in results["bounds"]:
            train, val = (load_split(data / s / "manifest.csv") for s in ("train", "val"))
            results["bounds"][fkey] = evaluate_bound(fit_bound(train), val,
                                                     load_split(fresh / "test" / "manifest.csv"))
            results_path.write_text(json.dumps(results, indent=2) + "\n")
        fb = results["bounds"][fkey]
        print(f"bound on the fresh test spots: spot AUC {fb['spot_auc']:.3f}, Dice "
              f"{fb['dice_mean']:.3f} +- {fb['dice_std']:.3f}", flush=True)
    if args.bound_only:
        return 0

    base = shlex.split(args.base)
    print(f"{'recipe':<28} {'seed':>7} {'spot AUC':>8} {'pooled':>6} {'Dice':>13} {'bound':>6} {'ratio':>6} "
          f"{'time':>7}" + ("   fresh: AUC pooled ratio" if fresh else ""), flush=True)
    for text in args.recipe:
        recipe = parse_recipe(text)
        jobs = [(seed, lambda s=seed: run_recipe(recipe, s, data, out / "runs", base)) for seed in args.seeds]
        jobs += [("+".join(map(str, c)), lambda c=c: run_ensemble(recipe, c, data, out / "runs"))
                 for k in args.ensemble for c in itertools.combinations(args.seeds, k)]
        for seed, job in jobs:
            row = job()
            row.update(data=key, base=args.base, bound_dice=b["dice_mean"],
                       ratio=row["dice_mean"] / b["dice_mean"] if b["dice_mean"] else None)
            if fresh is not None:
                row["fresh"] = fresh_scores(recipe, Path(row["run"]), fresh / "test" / "manifest.csv", fb)
            results["rows"].append(row)
            results_path.write_text(json.dumps(results, indent=2) + "\n")
            if not args.keep_caches:
                drop_caches(Path(row["run"]))
            f = row.get("fresh") or {}
            print(f"{row['recipe']:<28} {seed:>7} {row['auc']:>8.3f} {_num(row['auc_pooled']):>6} "
                  f"{row['dice_mean']:>6.3f} +- {row['dice_std']:.2f} {b['dice_mean']:>6.3f} "
                  f"{row['ratio']:>6.2f} {row['seconds']:>6.0f}s"
                  + (f"   {f['auc']:.3f} {_num(f['auc_pooled'])} {f['ratio']:.2f}" if f else ""), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

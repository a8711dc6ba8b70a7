"""irpath's nuclei method beside StarDist: the same crops, the same wall-clock budget, one run.

    make bench-peers                       # or:
    .venv/bin/python benchmarks/peers/stardist.py [--budget-min 6.4] [--seeds 0 1 2]
        [--beds real bed1] [--out bench_out/peers]

StarDist (0.9.2, on TensorFlow 2.21 through tf-keras, ``TF_USE_LEGACY_KERAS=1``) is never a
dependency of irpath: on first use this script creates its own virtual environment,
``benchmarks/peers/.venv-stardist`` (about 1.5 GB; pip needs the package index once), and
runs StarDist there through ``stardist_job.py``.

Beds (each split by position into train / val / test crops, the same crops for both tools):

* ``real``: the annotated fluorescence nuclei image (512 x 512, DSB 2018, Caicedo et al.
  2019) that the StarDist wheel ships (``stardist.data.test_image_nuclei_2d``): train is the
  top half, val the bottom-left 192 columns, test the bottom-right 320 columns;
* ``bed1``: irpath's own synthetic H&E-like tiles (``irpath.demo.nuclei``), 3 train, 1 val,
  2 test tiles of 256 px;
* ``bed2``: the second, independently written nuclei bed (``irpath.demo.bed2.nuclei``),
  fluorescence-like one-channel tiles, 3 train, 1 val, 2 test tiles of 256 px.

Per bed and seed, each tool trains from scratch for ``--budget-min`` minutes of wall clock:

* StarDist2D: ``n_rays`` 32, grid 2, 128 px patches (smaller crops: the largest multiple of
  16 that fits), batch 4, flips, turns and intensity jitter; stopped by a callback when the
  budget is spent; then its thresholds are optimised on val (timed apart);
* irpath nuclei: one ``irpath train nuclei --config models/nuclei-small/config.json`` on the
  same crops (written as images/ + labels/ folders; intensities normalised per image to the
  1-99.8 percentiles, as StarDist's ``normalize``) with ``--time-limit`` set to the budget
  (it stops after the last 25-step epoch that fits; its clock starts once the data are read),
  which then calibrates its inner threshold and smallest inner part on val (timed apart);
  the test crops go through ``irpath evaluate nuclei --tta`` with what it recorded (the
  maps averaged over the 8 flips / quarter turns, the test-time augmentation the issue
  lists among the method's changes; ``--no-tta`` scores the plain maps). StarDist's
  ``predict_instances`` has no test-time augmentation, so it is run as its authors ship it.

A finished row is reused when the script runs again with the same ``--out`` (delete it to
measure again).

Both tools' test instance maps are scored with the same functions
(:func:`irpath.methods.nuclei.evaluate.segmentation_metrics`: object F1 at IoU > 0.5 by
the majority rule, AJI, PQ). Prints one row per (bed, tool, seed), the means, and writes
``OUT/peers.json``. It is a benchmark, never a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-stardist"
SD_PIP = ["tensorflow==2.21.*", "tf-keras==2.21.*", "stardist==0.9.2"]
KEYS = ("f1", "precision", "recall", "aji", "pq")
#: irpath's recipe for these small beds (models/nuclei-small: ResNet34's blocks at a quarter of
#: its width, lr 1e-3, batch 4, 128 px crops, 25-step epochs), and its evaluation's extra flags.
IRPATH_RECIPE = ["--config", str(HERE.parents[1] / "models" / "nuclei-small" / "config.json")]
EVAL_ARGS: list = []


def stardist_python() -> Path:
    """StarDist's own interpreter, creating its virtual environment on first use."""
    py = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        print(f"creating StarDist's virtual environment in {VENV} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *SD_PIP], check=True)
        (VENV / ".installed").write_text(" ".join(SD_PIP) + "\n")
    return py


def _env() -> dict:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    return env


def normalise(x, lo=1.0, hi=99.8) -> np.ndarray:
    """Per-image percentile normalisation to about [0, 1] (csbdeep's ``normalize``)."""
    x = np.asarray(x, np.float32)
    a, b = np.percentile(x, [lo, hi])
    return (x - a) / max(b - a, 1e-6)


# ---- beds: {"train": [(x, y)], "val": [...], "test": [...]}; x float [0, 1], y instances

def bed_real(work: Path) -> dict:
    npz = work / "dsb2018_stardist_wheel.npz"
    if not npz.exists():
        subprocess.run([str(stardist_python()), "-P", str(HERE / "stardist_job.py"), "export-real", str(npz)],
                       check=True, env=_env())
    d = np.load(npz)
    img, mask = normalise(d["image"]), d["mask"].astype(np.int32)
    h, w = img.shape
    top, bottom = slice(0, h // 2), slice(h // 2, h)
    cut = w * 3 // 8
    return {"train": [(img[top, : w // 2], mask[top, : w // 2]), (img[top, w // 2:], mask[top, w // 2:])],
            "val": [(img[bottom, :cut], mask[bottom, :cut])],
            "test": [(img[bottom, cut:], mask[bottom, cut:])]}


def _from_tiles(tiles) -> list:
    out = []
    for rgb, label in tiles:
        out.append((np.asarray(rgb, np.float32) / 255.0, np.asarray(label, np.int32)))
    return out


def bed1(work: Path) -> dict:
    from irpath.demo.nuclei import make_nuclei_tile

    tiles = _from_tiles(make_nuclei_tile(256, seed=100 + i) for i in range(6))
    return {"train": tiles[:3], "val": tiles[3:4], "test": tiles[4:]}


def bed2(work: Path) -> dict:
    """Fluorescence-like tiles of the second, independently written bed (one channel)."""
    from irpath.demo.bed2.nuclei import make_nuclei_image

    rng = np.random.default_rng(200)
    tiles = []
    for _ in range(6):
        rgb, label = make_nuclei_image(256, rng, stain="fluorescence")
        tiles.append((normalise(np.asarray(rgb, np.float32)[..., 0]), np.asarray(label, np.int32)))
    return {"train": tiles[:3], "val": tiles[3:4], "test": tiles[4:]}


BEDS = {"real": bed_real, "bed1": bed1, "bed2": bed2}


# ---- the two tools

def _write_folder(pairs, folder: Path) -> Path:
    from PIL import Image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for i, (x, y) in enumerate(pairs):
        img = np.clip(np.round(np.clip(x, 0, 1) * 255), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / "images" / f"crop{i}.png")
        inst = y.astype(np.int32)
        np.savez(folder / "labels" / f"crop{i}.npz", inst_map=inst, type_map=(inst > 0).astype(np.int32))
    return folder


def run_irpath(bed: dict, work: Path, seed: int, budget_s: float, extra=(), tta: bool = True) -> tuple[list, dict]:
    for part in ("train", "val", "test"):
        if not (work / part).exists():
            _write_folder(bed[part], work / part)
    run = work / f"irpath_seed{seed}"
    side = min(min(x.shape[:2]) for x, _ in bed["train"])
    crop = min(128, side // 32 * 32)
    # One `irpath train` for the budget: --time-limit stops it after the last epoch that fits
    # (its clock starts once the data are read, as StarDist's budget starts at model.train).
    cmd = [sys.executable, "-m", "irpath", "train", "nuclei", "--train", str(work / "train"),
           "--val", str(work / "val"), "--out", str(run), "--seed", str(seed), "--class-map", "1:tumour",
           "--crop", str(crop), "--patch", str(min(side, crop + 32)), "--batch-size", "4",
           "--epochs", "100000", "--time-limit", f"{budget_s / 60:.4f}",
           "--no-export", *IRPATH_RECIPE, *extra]
    start = time.time()
    if not (run / "train_summary.json").exists():
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((run / "train_summary.json").read_text())
    wall = time.time() - start
    ev = work / f"irpath_eval{'_tta' if tta else ''}_seed{seed}"
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "irpath", "evaluate", "nuclei", "--model", str(run),
                    "--data", str(work / "test"), "--class-map", "1:tumour", "--out", str(ev), *EVAL_ARGS,
                    *(["--tta"] if tta else [])],
                   check=True, stdout=subprocess.DEVNULL)
    report = json.loads((ev / "report.json").read_text())
    preds = [np.load(ev / "instances" / f"crop{i}.npy") for i in range(len(bed["test"]))]
    return preds, {"train_s": summary["seconds_this_session"], "wall_s": wall, "eval_s": time.time() - t0,
                   "epochs": summary["epochs"],
                   "steps_about": summary["epochs"] * _recorded_train(run)["steps_per_epoch"],
                   "inner_threshold": report.get("inner_threshold"), "tta": bool(tta)}


def _recorded_train(run: Path) -> dict:
    """The train section a finished irpath run recorded (its recipe)."""
    return json.loads((run / "config.json").read_text())["train"]


def run_stardist(bed: dict, work: Path, seed: int, budget_s: float, extra=(), tta: bool = False) -> tuple[list, dict]:
    data = work / "stardist_data.npz"
    if not data.exists():
        obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]  # noqa: E731 (keep ragged arrays)
        np.savez(data, **{f"{p}_x": obj([x for x, _ in bed[p]]) for p in ("train", "val", "test")},
                 **{f"{p}_y": obj([y for _, y in bed[p]]) for p in ("train", "val")})
    out = work / f"stardist_seed{seed}.npz"
    res = subprocess.run([str(stardist_python()), "-P", str(HERE / "stardist_job.py"), "train-predict", str(data),
                          str(out), "--seed", str(seed), "--budget", str(budget_s)],
                         check=True, capture_output=True, text=True, env=_env())
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("STARDIST ")][-1]
    preds = np.load(out)
    return [preds[f"pred{i}"] for i in range(len(bed["test"]))], json.loads(line[len("STARDIST "):])


def score(preds, bed) -> dict:
    from irpath.methods.nuclei.evaluate import segmentation_metrics

    rows = [segmentation_metrics(p, y) for p, (_, y) in zip(preds, bed["test"])]
    return {k: float(np.mean([r[k] for r in rows])) for k in KEYS}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-min", type=float, default=6.4, help="training wall clock per tool and seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--beds", nargs="+", default=["real", "bed2"], choices=sorted(BEDS))
    p.add_argument("--out", type=Path, default=Path("bench_out/peers"))
    p.add_argument("--tools", nargs="+", default=["stardist", "irpath"], choices=["stardist", "irpath"])
    p.add_argument("--irpath-args", default="", help="extra `irpath train nuclei` flags (a recipe to try), "
                   "e.g. \"--lr 3e-3 --encoder-filters 32,64,128,256\"")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                   help="irpath's test crops through `irpath evaluate nuclei --tta` (the 8 flips / quarter "
                        "turns averaged; default); --no-tta scores its plain maps")
    args = p.parse_args(argv)
    budget = args.budget_min * 60
    results = []
    print(f"budget {args.budget_min:g} min of training wall clock per tool and seed, on "
          f"{os.cpu_count()} cores; irpath evaluated {'with' if args.tta else 'without'} test-time "
          "augmentation", flush=True)
    print(f"{'bed':6s} {'tool':9s} {'seed':>4s} " + " ".join(f"{k:>9s}" for k in KEYS)
          + f" {'train s':>8s}", flush=True)
    for name in args.beds:
        work = args.out / name
        work.mkdir(parents=True, exist_ok=True)
        bed = BEDS[name](work)
        for seed in args.seeds:
            for tool, fn in (("stardist", run_stardist), ("irpath", run_irpath)):
                if tool not in args.tools:
                    continue
                preds, info = fn(bed, work, seed, budget, args.irpath_args.split() if tool == "irpath" else (),
                                 tta=args.tta and tool == "irpath")
                row = {"bed": name, "tool": tool, "seed": seed, **score(preds, bed), **info}
                results.append(row)
                print(f"{name:6s} {tool:9s} {seed:4d} " + " ".join(f"{row[k]:9.3f}" for k in KEYS)
                      + f" {info['train_s']:8.0f}", flush=True)
    print("\nmeans over seeds")
    summary = {}
    for name in args.beds:
        for tool in args.tools:
            rows = [r for r in results if r["bed"] == name and r["tool"] == tool]
            m = {k: float(np.mean([r[k] for r in rows])) for k in KEYS}
            summary[f"{name}/{tool}"] = m
            print(f"{name:6s} {tool:9s}      " + " ".join(f"{m[k]:9.3f}" for k in KEYS))
    (args.out / "peers.json").write_text(json.dumps({"budget_min": args.budget_min, "irpath_args": args.irpath_args,
                                                     "irpath_tta": args.tta,
                                                     "rows": results,
                                                     "means": summary}, indent=1))
    print(f"\nwrote {args.out / 'peers.json'}")


if __name__ == "__main__":
    main()

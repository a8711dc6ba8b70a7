"""Same results before and after a refactor: each method's short fixed-seed CLI run.

``record OUT`` trains every method for a few epochs through the CLI (``--deterministic``,
fixed seeds, tiny recipes on the built-in synthetic data), predicts one held-out image
with the run and keeps ``history.csv`` and the predicted maps in ``OUT/<method>/``.
``compare A B`` prints, per method, the largest difference of the history's numbers and
of the maps between two records, beside the tolerance it is held to.

    python benchmarks/driver_equivalence.py record /tmp/before   # on the old checkout
    python benchmarks/driver_equivalence.py record /tmp/after    # on the new one
    python benchmarks/driver_equivalence.py compare /tmp/before /tmp/after

Every step is a fresh ``irpath`` process, so a record depends only on the checkout.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TOL = 1e-4  # float tolerance on losses and maps (same ops, same seeds, same device)


def _irpath(*args) -> None:
    cmd = [sys.executable, "-m", "irpath", *map(str, args)]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    print(f"  {time.perf_counter() - t:6.1f} s  irpath {' '.join(map(str, args[:2]))}", flush=True)


def _data(root: Path) -> dict:
    """Inputs of each method's run (written by the package's own demo generators)."""
    from irpath.demo.glands import make_glas_folder
    from irpath.demo.nuclei import make_nuclei_dataset
    from irpath.demo.synthetic import make_tma
    from irpath.demo.textures import write_texture_set

    tma = make_tma(root / "tma", seed=3, n_train=12, n_val=4, n_test=2, size=24)
    for name, n, seed in (("train", 8, 11), ("val", 2, 12), ("test", 1, 13)):
        write_texture_set(root / "textures" / name, n, 32, seed=seed)
    glas = make_glas_folder(root / "glas", n_images=10, size=64, seed=1)
    make_nuclei_dataset(root / "nuclei" / "train", n=4, size=64, seed=0)
    make_nuclei_dataset(root / "nuclei" / "val", n=2, size=64, seed=1)
    test_spot = Path(tma["test"]).parent / next(r for r in csv.reader(open(tma["test"])) if r[0] != "image")[0]
    return {
        "compsegnet": (["--train-manifest", tma["train"], "--val-manifest", tma["val"],
                        "--epochs", 3, "--batch-size", 4, "--filters", 8, "--depth", 2, "--lr", 1e-2],
                       test_spot),
        "fcn": (["--train-manifest", root / "textures/train/manifest.csv",
                 "--val-manifest", root / "textures/val", "--epochs", 3, "--cut", "block2_conv2",
                 "--decoder", "up:2:16,conv:3:16", "--lr", 1e-3],
                root / "textures/test/images/tile_000.png"),
        "multiloss": (["--data", glas, "--epochs", 2, "--pretrain-epochs", 1, "--resize", 64,
                       "--tile", 32, "--crop", 32, "--filters", 4, "--depth", 2, "--batch-size", 4,
                       "--optimizer", "adam", "--lr", 0.01],
                      Path(glas) / "train_1.bmp"),
        "nuclei": (["--train", root / "nuclei/train", "--val", root / "nuclei/val", "--epochs", 2,
                    "--crop", 64, "--patch", 64, "--batch-size", 4, "--steps-per-epoch", 2,
                    "--decoder-filters", "8,8,8,8", "--encoder-blocks", "1,1,1,1",
                    "--encoder-filters", "8,8,16,16"],
                   root / "nuclei/val/images/nuclei_000.png"),
    }


def record(out: Path, methods) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = out / "_work"
    shutil.rmtree(work, ignore_errors=True)
    data = _data(work / "data")
    for name in methods:
        flags, image = data[name]
        print(f"{name}:", flush=True)
        run = work / name / "run"
        _irpath("train", name, *flags, "--out", run, "--deterministic")
        _irpath("predict", "--model", run, "--input", image, "--out", work / name / "pred")
        dest = out / name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
        shutil.copy(run / "history.csv", dest / "history.csv")
        for f in sorted((work / name / "pred").glob("*.npy")):
            shutil.copy(f, dest / f.name)
    shutil.rmtree(work, ignore_errors=True)


def _history(path: Path) -> dict:
    rows = list(csv.DictReader(open(path)))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def compare(a: Path, b: Path) -> int:
    bad = 0
    table = {}
    print(f"{'method':<11} {'history max |diff|':>20} {'maps max |diff|':>17} {'tolerance':>10}")
    for d in sorted(p for p in a.iterdir() if p.is_dir()):
        other = b / d.name
        ha, hb = _history(d / "history.csv"), _history(other / "history.csv")
        same_cols = set(ha) == set(hb) and all(len(ha[k]) == len(hb[k]) for k in ha)
        h = max(float(np.max(np.abs(ha[k] - hb[k]))) for k in ha) if same_cols else float("inf")
        maps = sorted(p.name for p in d.glob("*.npy"))
        same_files = maps == sorted(p.name for p in other.glob("*.npy"))
        m = max((float(np.max(np.abs(np.load(d / f).astype(np.float64) - np.load(other / f))))
                 for f in maps), default=0.0) if same_files else float("inf")
        ok = h <= TOL and m <= TOL
        bad += not ok
        table[d.name] = {"history_max_abs_diff": h, "maps_max_abs_diff": m, "maps": maps, "same": ok}
        print(f"{d.name:<11} {h:>20.3g} {m:>17.3g} {TOL:>10.0e}  {'same' if ok else 'DIFFERENT'}")
    (b / "comparison.json").write_text(json.dumps({"before": str(a), "after": str(b), "tolerance": TOL,
                                                   "methods": table}, indent=2))
    return 1 if bad else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="train + predict every method, keep history and maps")
    r.add_argument("out", type=Path)
    r.add_argument("--methods", nargs="+", default=["compsegnet", "fcn", "multiloss", "nuclei"])
    c = sub.add_parser("compare", help="largest differences between two records")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "record":
        record(args.out, args.methods)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())

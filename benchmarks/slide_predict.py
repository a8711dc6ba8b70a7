"""Whole-slide prediction: a 32768 x 32768 pyramidal JPEG OME-TIFF, fcn at 2 µm/px.

Writes a synthetic H&E-like slide (level 0 at 0.25 µm/px, about 20 % tissue in
blobs, JPEG tiles of 512, levels down to 512 px as SubIFDs), tile by tile so it is
never in memory, and a small fcn run (VGG16 to block2_conv2 + a 16-filter decoder,
random weights, saved as a run directory). Then, in a fresh process each:

* ``predict_files`` at --mpp 2 with default settings (level 3, tissue only, tiled):
  peak RSS (target <= 2 GB), the tissue fraction computed, tissue px/s;
* in the same process, in-memory prediction of a crop that fits (CROP x CROP of the
  same level, one whole call): its px/s, and the ratio (target >= 0.8);
* a cohort of two copies of the slide with ``--workers 1`` and ``--workers 2``: wall times.

Prints figures beside their references and writes them as JSON; never passes or fails.

    python benchmarks/slide_predict.py --size 8192            # quick
    nohup python benchmarks/slide_predict.py > slide.log 2>&1 &  # full size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MB = 2**20
MPP0 = 0.25
TILE = 512


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", type=int, default=32768, help="level-0 side (pixels)")
    p.add_argument("--mpp", type=float, default=2.0, help="prediction resolution (µm/px)")
    p.add_argument("--crop", type=int, default=1024, help="in-memory reference crop side (pixels)")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--skip-workers", action="store_true", help="skip the --workers 1 / 2 comparison")
    p.add_argument("--json-out", default=None)
    p.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _tissue(yy, xx, size):
    """About 20 % of the slide: a few elliptic blobs (level-0 coordinates)."""
    centres = [(0.3, 0.3, 0.134), (0.65, 0.6, 0.158), (0.3, 0.75, 0.079), (0.8, 0.2, 0.063)]
    m = np.zeros(np.broadcast(yy, xx).shape, bool)
    for cy, cx, r in centres:
        m |= ((yy / size - cy) / 1.2) ** 2 + (xx / size - cx) ** 2 < r ** 2
    return m


def _tile(level_down, y0, x0, size, rng):
    ys = (np.arange(y0, y0 + TILE) * level_down)[:, None]
    xs = (np.arange(x0, x0 + TILE) * level_down)[None, :]
    tissue = _tissue(ys, xs, size)
    out = np.empty((TILE, TILE, 3), np.uint8)
    out[:] = (243, 242, 245)
    if tissue.any():
        noise = rng.integers(-25, 25, (TILE, TILE, 1))
        nuclei = (((ys + xs) % 37 < 4) * -60)[..., None]  # darker streaks: texture for the model
        stain = np.clip(np.array([190, 100, 160]) + noise + nuclei, 0, 255).astype(np.uint8)
        out[tissue] = stain[tissue]
    return out


def write_slide(path: Path, size: int):
    """A pyramidal JPEG OME-TIFF written tile by tile; returns (seconds, tissue fraction)."""
    import tifffile

    rng = np.random.default_rng(0)
    shapes, d = [], 1
    while size // d >= TILE:
        shapes.append((size // d, d))
        d *= 2
    t = time.perf_counter()
    res = {"resolutionunit": "CENTIMETER"}
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tw:
        for i, (side, down) in enumerate(shapes):
            tiles = (_tile(down, y, x, size, rng) for y in range(0, side, TILE) for x in range(0, side, TILE))
            meta = {"axes": "YXS", "PhysicalSizeX": MPP0, "PhysicalSizeY": MPP0} if i == 0 else None
            tw.write(tiles, shape=(side, side, 3), dtype=np.uint8, tile=(TILE, TILE), compression="jpeg",
                     photometric="rgb", subifds=len(shapes) - 1 if i == 0 else None,
                     subfiletype=1 if i else 0, metadata=meta,
                     resolution=(1e4 / (MPP0 * down),) * 2, **res)
    yy, xx = np.mgrid[:1024, :1024] * (size / 1024)
    return time.perf_counter() - t, float(_tissue(yy, xx, size).mean())


def write_run(folder: Path):
    """A run directory the loaders (and the dask workers) read: segmenter.keras + config.json."""
    import keras

    from irpath.config import recipe_sections
    from irpath.methods.fcn.config import FcnConfig, FcnTrainConfig
    from irpath.methods.fcn.train import network_kwargs
    from irpath.models.vgg_fcn import build_vgg_fcn

    keras.utils.set_random_seed(0)
    cfg = FcnConfig(cut="block2_conv2", decoder="up:2:16,conv:3:16")
    folder.mkdir(parents=True, exist_ok=True)
    build_vgg_fcn(weights=None, **network_kwargs(cfg)).save(folder / "segmenter.keras")
    (folder / "config.json").write_text(json.dumps(recipe_sections("fcn", cfg, FcnTrainConfig()), indent=2))


def _status(key):
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith(key + ":"))


def child(args, run: Path, slide: Path, out: Path) -> dict:
    """Slide prediction, then the in-memory crop reference, in this fresh process."""
    from irpath.cli.main import start_tensorflow

    start_tensorflow()
    from irpath.inference.loading import load_predictor
    from irpath.inference.predict import PredictOptions, predict_files
    from irpath.io.sources import open_image

    from irpath.inference.engine import prepare_input

    predictor = load_predictor(run)
    # compile the plan's tile shape first (not timed), as a second slide in a cohort would find it
    _, plan = prepare_input(predictor, slide, mpp=args.mpp)
    predictor.predict_tiles(np.zeros((1, plan.tile, plan.tile, 3), np.float32))
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    t = time.perf_counter()
    row = predict_files(predictor, [slide], out, options=PredictOptions(mpp=args.mpp))["predictions"][0]
    dt = time.perf_counter() - t
    hwm = _status("VmHWM")
    with open_image(slide) as src:
        lvl = src.nearest_level(args.mpp)
        h, w = src.level_shapes[lvl]
        y0, x0 = int(h * 0.65 - args.crop / 2), int(w * 0.6 - args.crop / 2)  # inside a blob
        crop = src.read_region(lvl, y0, x0, args.crop, args.crop).astype(np.float32)
    predictor.predict(crop[None])  # warm
    t = time.perf_counter()
    predictor.predict(crop[None])
    t_crop = time.perf_counter() - t
    grid = row["shape"][0] * row["shape"][1]
    return {"seconds": dt, "vm_hwm": hwm, "tissue_fraction": row["tissue_fraction"], "grid": row["shape"],
            "level": row["level"], "mpp": row["mpp"], "tissue_px_s": row["tissue_fraction"] * grid / dt,
            "crop_px_s": args.crop ** 2 / t_crop, "crop_seconds": t_crop, "tile": plan.tile}


def _cohort(run, slides, out, workers) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "irpath", "predict", "--model", str(run), "--input", *map(str, slides),
                    "--out", str(out), "--mpp", "2", "--workers", str(workers)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args, *(Path(p) for p in args.child))), flush=True)
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="irpath_slide_", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        slide = work / "slide.ome.tif"
        secs, frac = write_slide(slide, args.size)
        print(f"slide: {args.size}x{args.size} RGB, {MPP0} µm/px, JPEG tiles {TILE}, "
              f"{slide.stat().st_size / MB:.0f} MB written in {secs:.0f} s; true tissue {100 * frac:.1f} %")
        write_run(work / "run")
        argv = list(argv if argv is not None else sys.argv[1:])
        proc = subprocess.run([sys.executable, __file__, *argv, "--child", str(work / "run"), str(slide),
                               str(work / "out")], stdout=subprocess.PIPE, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"predict --mpp {args.mpp}: level {r['level']} ({r['mpp']:g} µm/px), map {r['grid'][0]}x"
              f"{r['grid'][1]}, {r['seconds']:.1f} s (tiles of {r['tile']})")
        print(f"peak RSS:        {r['vm_hwm'] / MB:8.0f} MB (VmHWM of the predicting process; target <= 2048 MB)")
        print(f"tissue computed: {100 * r['tissue_fraction']:8.1f} % of the slide's area (true tissue "
              f"{100 * frac:.1f} %)")
        print(f"tissue px/s:     {r['tissue_px_s']:8.0f}  vs in-memory {args.crop}^2 crop {r['crop_px_s']:.0f} px/s: "
              f"ratio {r['tissue_px_s'] / r['crop_px_s']:.2f} (target >= 0.80)")
        r.update(true_tissue=frac, ratio=r["tissue_px_s"] / r["crop_px_s"])
        if not args.skip_workers:
            copy = work / "slide_b.ome.tif"
            shutil.copy(slide, copy)
            t1 = _cohort(work / "run", [slide, copy], work / "w1", 1)
            t2 = _cohort(work / "run", [slide, copy], work / "w2", 2)
            print(f"two slides:      --workers 1 {t1:.0f} s, --workers 2 {t2:.0f} s (speed-up {t1 / t2:.2f}x "
                  f"on {os.cpu_count()} cores)")
            r.update(workers1_seconds=t1, workers2_seconds=t2)
        Path(args.json_out or work.parent / "slide_predict.json").write_text(json.dumps(r, indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

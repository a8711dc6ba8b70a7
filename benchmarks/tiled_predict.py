"""Out-of-core prediction of IR mosaics at default settings, against in-memory prediction.

Default: for each of BSQ, BIL and BIP, writes a SIZE x SIZE x CHANNELS float32 ENVI
mosaic (default 2048 x 2048 x 436, 6.8 GB) on an axis other than the model's
(1801.9 -> 946.1 cm^-1), in row chunks so it is never in memory, and a REF x REF
cube of the same kind; then, in a fresh process, runs ``predict_files`` (what
``irpath predict`` runs) with default settings on the mosaic first (the plan
decides: tiled), then whole on the REF cube (in memory), with a small
450-channel CompSegNet with random weights. It prints, per interleave, whether
each was tiled, the px/s of both and their ratio (target >= 0.8), the peak RSS
of the process over the mosaic's prediction (VmHWM, Python + TF + model
included; target <= 2 GB), and the whole-image path's peak above the RSS it
started from, as a multiple of the REF cube's bytes (target <= ~2x); and
writes the figures as JSON.

``--direct``: the former measurement (read_cube + predict_tiled by hand on one
BIP cube, with the tiled-vs-whole map difference). Prints figures; never passes
or fails.

    python benchmarks/tiled_predict.py --size 512 --ref 256      # quick
    nohup python benchmarks/tiled_predict.py > tiled.log 2>&1 &  # full size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MB = 2**20
SOURCE_AXIS = (1801.9, 946.1)  # cm^-1, off the model's 1800 -> 948


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", type=int, default=2048, help="large cube height and width")
    p.add_argument("--channels", type=int, default=436, help="channels of the written cubes")
    p.add_argument("--ref", type=int, default=512, help="in-memory reference cube size")
    p.add_argument("--ref-repeats", type=int, default=2, help="timed whole-image runs (mean)")
    p.add_argument("--tile", type=int, default=224,
                   help="max tile size; 450 channels: 256 peaks at ~1.95 GB RSS, 224 at ~1.8 GB")
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--margin", type=int, default=None, help="default overlap // 4")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--no-prefetch", action="store_true", help="read tiles in the main thread")
    p.add_argument("--fn", choices=("xla", "graph", "eager"), default="xla",
                   help="model call: tf.function(jit_compile=True), tf.function, or model(x)")
    p.add_argument("--filters", type=int, default=8)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=None,
                   help="folder for the cubes and maps (default: a temporary folder under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--default-child", nargs=2, default=None, help=argparse.SUPPRESS)
    p.add_argument("--direct", action="store_true",
                   help="the former measurement: read_cube + predict_tiled by hand on one BIP cube")
    p.add_argument("--interleaves", nargs="+", default=["bsq", "bil", "bip"], choices=("bsq", "bil", "bip"))
    p.add_argument("--json-out", default=None, help="write the figures here (default beside the work folder)")
    return p.parse_args(argv)


def write_envi(hdr: Path, size: int, channels: int, seed: int = 0, interleave: str = "bip") -> Path:
    """A tissue disk of random positive spectra on a zero background, a few NaN pixels,
    written row chunk by row chunk (float32, in ``interleave``) with a hand-written header."""
    axis = np.linspace(*SOURCE_AXIS, channels)
    rng = np.random.default_rng(seed)
    xx = np.arange(size)
    rows = max(1, (64 * MB) // (size * channels * 4))
    shape = {"bsq": (channels, size, size), "bil": (size, channels, size), "bip": (size, size, channels)}
    mm = np.lib.format.open_memmap(hdr.with_suffix(".npy"), "w+", np.float32, shape[interleave])
    for a in range(0, size, rows):
        yy = np.arange(a, min(a + rows, size))[:, None]
        disk = (yy - size / 2) ** 2 + (xx[None] - size / 2) ** 2 < (0.45 * size) ** 2
        block = rng.random((yy.shape[0], size, channels), dtype=np.float32)
        block[~disk] = 0.0
        if a == 0:
            block[0, :5] = np.nan  # invalid pixels, zeroed by the preparer
        if interleave == "bsq":
            mm[:, a:a + block.shape[0]] = block.transpose(2, 0, 1)
        elif interleave == "bil":
            mm[a:a + block.shape[0]] = block.transpose(0, 2, 1)
        else:
            mm[a:a + block.shape[0]] = block
    mm.flush()
    offset = mm.offset
    del mm
    hdr.with_suffix(".npy").rename(hdr.with_suffix(".dat"))
    hdr.write_text("ENVI\n" + "".join(f"{k} = {v}\n" for k, v in {
        "samples": size, "lines": size, "bands": channels, "header offset": offset,
        "file type": "ENVI Standard", "data type": 4, "interleave": interleave, "byte order": 0,
        "wavelength units": "cm-1",
        "wavelength": "{" + ", ".join(f"{w:.6f}" for w in axis) + "}"}.items()))
    return hdr


def make_fn(args):
    """The segmenter (seeded, so every process builds the same weights) and its call."""
    import keras
    import tensorflow as tf

    from irpath.models.compsegnet import build_segmenter

    keras.utils.set_random_seed(0)
    model = build_segmenter(np.full(450, 0.5), np.full(450, 0.29), in_channels=450,
                            filters=args.filters, depth=args.depth, norm="batch")
    # The head's kernel starts at zero (a constant map); random weights make the
    # tiled-vs-whole comparison below meaningful.
    head = model.get_layer("activation_map")
    head.kernel.assign(np.random.default_rng(0).normal(0, 1, head.kernel.shape).astype("float32"))
    if args.fn == "eager":
        return lambda x: model(x, training=False)
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                       jit_compile=args.fn == "xla")


class RssSampler(threading.Thread):
    """Peak RSS sampled every 50 ms with psutil (if installed)."""

    def __init__(self):
        super().__init__(daemon=True)
        try:
            import psutil
            self.proc = psutil.Process()
        except ImportError:
            self.proc = None
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while self.proc is not None and not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.stop.wait(0.05)


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith(key + ":"))
    except (OSError, StopIteration):
        return None


def tiled_run(args, hdr: Path, out: Path, progress: bool = True) -> dict:
    """read_cube(mmap=True) + predict_tiled; times and memory (call in a fresh process)."""
    from irpath.data.ir_resample import ir_tile_preparer
    from irpath.inference.tiling import predict_tiled, tile_grid
    from irpath.io import read_cube
    from irpath.io.cube import release_pages
    from irpath.spectra import DEFAULT_AXIS

    fn = make_fn(args)
    t = time.perf_counter()
    cube = read_cube(hdr, mmap=True)  # scans the file once for the valid mask
    t_open = time.perf_counter() - t
    hwm_open = _status("VmHWM")  # the scan leaves the file's pages mapped (see release_pages)
    prepare = ir_tile_preparer(cube.wavenumbers, DEFAULT_AXIS, cube.valid, name=str(hdr))
    boxes = tile_grid(*cube.shape[:2], args.tile, args.overlap, align=2**args.depth)
    th, tw = boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2]
    t = time.perf_counter()
    for n in {1, min(args.batch, len({b[2:] for b in boxes}))}:  # compile the batch shapes
        np.asarray(fn(np.zeros((n, th, tw, DEFAULT_AXIS.size), np.float32)))
    t_compile = time.perf_counter() - t
    release_pages(cube.data)  # the valid-mask scan left the whole file mapped
    try:  # reset the kernel's peak-RSS mark: measure the tiled part only
        Path("/proc/self/clear_refs").write_text("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    rss0 = _status("VmRSS")
    sampler = RssSampler()
    sampler.start()
    t = time.perf_counter()
    predict_tiled(cube.data, fn, out, tile=args.tile, overlap=args.overlap, margin=args.margin,
                  align=2**args.depth, prepare=prepare, batch=args.batch,
                  prefetch=not args.no_prefetch, progress=progress)
    dt = time.perf_counter() - t
    sampler.stop.set()
    sampler.join()
    return {"pixels": cube.shape[0] * cube.shape[1], "seconds": dt, "open_seconds": t_open,
            "compile_seconds": t_compile, "tiles": len(boxes), "tile_shape": [th, tw],
            "rss_before": rss0, "hwm_open": hwm_open,
            "vm_hwm": _status("VmHWM") if hwm_reset else None,
            "psutil_peak": sampler.peak or None,
            "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def whole_run(args, hdr: Path, fn, fast: bool = False) -> tuple[float, dict, np.ndarray]:
    """Whole-image path: read_cube (valid-mask scan included) + to_target_axis (or, with
    ``fast``, the tile preparer on the whole image) + NaN and invalid pixels to 0 (as the
    cache does) + one model call."""
    from irpath.data.ir_resample import ir_tile_preparer
    from irpath.io import read_cube
    from irpath.spectra import DEFAULT_AXIS, to_target_axis

    t0 = time.perf_counter()
    cube = read_cube(hdr)
    t1 = time.perf_counter()
    if fast:
        prep = ir_tile_preparer(cube.wavenumbers, DEFAULT_AXIS, cube.valid)
        data = prep(cube.data, (0, cube.shape[0], 0, cube.shape[1]))
    else:
        data = to_target_axis(cube.data, cube.wavenumbers, DEFAULT_AXIS, name=str(hdr))
        data = np.nan_to_num(np.array(data, dtype=np.float32), copy=False, nan=0.0)
        data[~cube.valid] = 0.0
    t2 = time.perf_counter()
    amap = np.asarray(fn(data[None]))[0]
    t3 = time.perf_counter()
    return t3 - t0, {"read": t1 - t0, "resample": t2 - t1, "model": t3 - t2}, amap


def make_predictor(args):
    """A compsegnet :class:`Predictor` over the seeded benchmark segmenter, as
    ``load_predictor`` builds one (eager call for whole images, XLA for tiles)."""
    from irpath.inference.loading import Predictor, _compiled
    from irpath.methods.compsegnet.config import CompSegNetConfig

    make_fn(args)  # seeds and builds; rebuild to get at the model itself
    import keras

    from irpath.models.compsegnet import build_segmenter

    keras.utils.set_random_seed(0)
    model = build_segmenter(np.full(450, 0.5), np.full(450, 0.29), in_channels=450,
                            filters=args.filters, depth=args.depth, norm="batch")
    head = model.get_layer("activation_map")
    head.kernel.assign(np.random.default_rng(0).normal(0, 1, head.kernel.shape).astype("float32"))

    def predict(x):
        return np.asarray(model(np.asarray(x, np.float32), training=False))
    cfg = CompSegNetConfig(filters=args.filters, depth=args.depth)
    return Predictor(predict, "compsegnet", cfg, "benchmark", predict_tiles=_compiled(model))


def _reset_peak() -> int | None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; returns that RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status("VmRSS")


def default_run(args, big: Path, ref: Path) -> dict:
    """``predict_files`` at default settings (memory decides whole or tiles) on the big cube
    first, as a fresh ``irpath predict`` process would (its peak RSS counts the model and
    TensorFlow), then whole on the REF cube (in memory), in this fresh process; times and
    peak RSS of both (the REF's above the RSS it started from)."""
    from irpath.inference.predict import PredictOptions, predict_files

    predictor = make_predictor(args)
    out = big.parent / "out"
    rss_model = _status("VmRSS")
    sampler = RssSampler()
    sampler.start()
    t = time.perf_counter()
    row = predict_files(predictor, [big], out / "big")["predictions"][0]
    t_big = time.perf_counter() - t
    sampler.stop.set()
    sampler.join()
    big_hwm = _status("VmHWM")
    in_memory = PredictOptions(memory_limit=64 * 2**30)  # the reference: whole, whatever the budget
    ref_rss = _reset_peak()
    t = time.perf_counter()
    ref_row = predict_files(predictor, [ref], out / "ref", options=in_memory)["predictions"][0]
    t_ref = time.perf_counter() - t
    ref_hwm = _status("VmHWM")
    t = time.perf_counter()
    ref_row = predict_files(predictor, [ref], out / "ref2", options=in_memory)["predictions"][0]  # warm
    t_ref = min(t_ref, time.perf_counter() - t)
    return {"ref_pixels": args.ref ** 2, "ref_seconds": t_ref, "ref_tiled": ref_row["tiled"],
            "ref_rss_before": ref_rss, "ref_vm_hwm": ref_hwm,
            "ref_cube_bytes": args.ref ** 2 * args.channels * 4,
            "pixels": args.size ** 2, "seconds": t_big, "tiled": row["tiled"],
            "tissue_fraction": row.get("tissue_fraction"), "rss_model": rss_model,
            "vm_hwm": big_hwm, "psutil_peak": sampler.peak or None}


def default_main(args, argv) -> int:
    """For each interleave: write the big and the REF cube, run :func:`default_run` in a child."""
    work = args.workdir or Path(tempfile.mkdtemp(prefix="irpath_tiled_", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    gb = args.size**2 * args.channels * 4 / 2**30
    print(f"irpath predict at default settings (memory decides; budget a quarter of available memory)")
    print(f"cube: {args.size}x{args.size}x{args.channels} float32 ENVI ({gb:.2f} GB), axis "
          f"{SOURCE_AXIS[0]}->{SOURCE_AXIS[1]} cm^-1 -> model 1800->948 (450); reference: "
          f"{args.ref}x{args.ref} in memory, same process; U-Net filters {args.filters} depth {args.depth}")
    results = {}
    try:
        for il in args.interleaves:
            folder = work / il
            folder.mkdir(exist_ok=True)
            t = time.perf_counter()
            big = write_envi(folder / "cube.hdr", args.size, args.channels, interleave=il)
            ref = write_envi(folder / "ref.hdr", args.ref, args.channels, seed=1, interleave=il)
            t_write = time.perf_counter() - t
            child = [sys.executable, __file__, *argv, "--default-child", str(big), str(ref)]
            proc = subprocess.run(child, stdout=subprocess.PIPE, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            big_pxs, ref_pxs = r["pixels"] / r["seconds"], r["ref_pixels"] / r["ref_seconds"]
            r.update(big_px_s=big_pxs, ref_px_s=ref_pxs, ratio=big_pxs / ref_pxs, write_seconds=t_write)
            results[il] = r
            print(f"{il.upper()}: {'tiled' if r['tiled'] else 'WHOLE'} {r['seconds']:7.1f} s {big_pxs:8.0f} px/s | "
                  f"in-memory {args.ref}^2 ({'tiled' if r['ref_tiled'] else 'whole'}) {ref_pxs:8.0f} px/s | "
                  f"ratio {r['ratio']:.2f} (target >= 0.80) | peak RSS {_mb(r['vm_hwm'])} VmHWM, "
                  f"{_mb(r['psutil_peak'])} psutil (target <= 2048 MB; {_mb(r['rss_model']).strip()} "
                  f"before it: Python, TF, model)", flush=True)
            cost = (r["ref_vm_hwm"] - r["ref_rss_before"]) / r["ref_cube_bytes"]
            print(f"{il.upper()}: whole-image path on the {args.ref}^2 cube ({_mb(r['ref_cube_bytes']).strip()}): "
                  f"peak {_mb(r['ref_vm_hwm']).strip()} from {_mb(r['ref_rss_before']).strip()} = "
                  f"{cost:.2f}x the cube (target <= ~2x); mosaic tissue computed {r['tissue_fraction']}",
                  flush=True)
            shutil.rmtree(folder, ignore_errors=True)
        (Path(args.json_out) if args.json_out else work.parent / "tiled_predict.json").write_text(
            json.dumps(results, indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _mb(v) -> str:
    return "n/a" if v is None else f"{v / MB:7.0f} MB"


def main(argv=None) -> int:
    args = parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    if args.default_child is not None:
        big, ref = (Path(p) for p in args.default_child)
        print(json.dumps(default_run(args, big, ref)), flush=True)
        return 0
    if not args.direct:
        return default_main(args, argv)
    if args.child is not None:  # the tiled part, in its own process
        hdr = args.child
        print(json.dumps(tiled_run(args, hdr, hdr.with_name("map.npy"))), flush=True)
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="irpath_tiled_", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        gb = args.size**2 * args.channels * 4 / 2**30
        print(f"cube:  {args.size}x{args.size}x{args.channels} float32 ENVI ({gb:.2f} GB), axis "
              f"{SOURCE_AXIS[0]}->{SOURCE_AXIS[1]} cm^-1 -> model 1800->948 (450)")
        print(f"tiles: {args.tile} px, overlap {args.overlap}, margin "
              f"{args.overlap // 4 if args.margin is None else args.margin}, batch {args.batch}, "
              f"fn {args.fn}, prefetch {not args.no_prefetch}; U-Net filters {args.filters} "
              f"depth {args.depth}")
        t = time.perf_counter()
        (work / "big").mkdir(exist_ok=True)
        big = write_envi(work / "big" / "cube.hdr", args.size, args.channels)
        print(f"write cube:       {time.perf_counter() - t:8.1f} s")

        child = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
                 "--child", str(big)]
        proc = subprocess.run(child, stdout=subprocess.PIPE, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        tiled_pxs = r["pixels"] / (r["seconds"] + r["open_seconds"])
        print(f"open (read_cube): {r['open_seconds']:8.1f} s  (valid-mask scan of the file)")
        print(f"compile (tile):   {r['compile_seconds']:8.1f} s  ({r['tiles']} tiles of "
              f"{r['tile_shape'][0]}x{r['tile_shape'][1]})")
        print(f"tiled predict:    {r['seconds']:8.1f} s  {r['pixels'] / r['seconds']:9.0f} px/s  "
              f"({tiled_pxs:.0f} px/s with the open)")
        print(f"RSS before tiles: {_mb(r['rss_before'])}  (Python + TF + model)")
        print(f"peak RSS tiled:   {_mb(r['vm_hwm'])} (VmHWM, reset before tiling)  "
              f"{_mb(r['psutil_peak'])} (psutil, 50 ms samples)")
        print(f"ru_maxrss child:  {_mb(r['ru_maxrss'])}  (after the reset; before it, read_cube's "
              f"valid-mask scan had peaked at {_mb(r['hwm_open']).strip()})")
        shutil.rmtree(work / "big", ignore_errors=True)  # free the disk before the reference

        (work / "ref").mkdir(exist_ok=True)
        ref = write_envi(work / "ref" / "cube.hdr", args.ref, args.channels, seed=1)
        fn = make_fn(args)
        t = time.perf_counter()
        np.asarray(fn(np.zeros((1, args.ref, args.ref, 450), np.float32)))
        print(f"compile (whole):  {time.perf_counter() - t:8.1f} s  (not timed below)")
        runs = [whole_run(args, ref, fn) for _ in range(args.ref_repeats)]
        secs = float(np.mean([s for s, _, _ in runs]))
        whole_pxs = args.ref**2 / secs
        parts = "  ".join(f"{k} {np.mean([p[k] for _, p, _ in runs]):.2f} s" for k in runs[0][1])
        print(f"whole-image:      {secs:8.1f} s  {whole_pxs:9.0f} px/s  ({args.ref}x{args.ref}; "
              f"{parts})")
        print(f"ratio tiled (open included) / whole-image px/s: {tiled_pxs / whole_pxs:.2f}  "
              "(target >= 0.80)")

        s_fast, p_fast, _ = whole_run(args, ref, fn, fast=True)
        print(f"whole, fast resample: {s_fast:4.1f} s  {args.ref**2 / s_fast:9.0f} px/s  (resample "
              f"{p_fast['resample']:.2f} s with the tile preparer); ratio tiled / this: "
              f"{tiled_pxs / (args.ref**2 / s_fast):.2f}")

        r2 = tiled_run(args, ref, work / "ref" / "map.npy", progress=False)
        diff = np.abs(np.load(work / "ref" / "map.npy") - runs[0][2]).max()
        r2_pxs = r2["pixels"] / (r2["seconds"] + r2["open_seconds"])
        print(f"tiled, same {args.ref}x{args.ref} cube: {r2_pxs:9.0f} px/s  "
              f"({r2['tiles']} tiles); max |tiled - whole| map difference {diff:.2e}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

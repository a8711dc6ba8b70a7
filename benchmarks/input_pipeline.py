"""Throughput of the CompSegNet input pipeline against a raw read of the same cache files.

Writes N random spots (default 16 x 256x256x450, as in the CompSegNet data) as
ENVI files plus a manifest into a temporary folder, builds a float32 and a
float16 cache of them (timed; each reads every source cube once), then, in a
fresh process (with the environment the CLI sets before importing TensorFlow),
for each cache:

* warm: alternates ``--passes`` tf.data passes of ``make_dataset(batch 7,
  augment, device_augment)`` (the stream ``irpath train compsegnet`` consumes,
  but every spot once per pass, without comparative batches; an epoch each, from a fresh iterator, so no batch is
  read ahead of its pass; creating the iterator, once per training run, is
  timed apart) with as many ``np.fromfile`` passes over the same cube files,
  both from the page cache, and prints the median and range of each, the
  ratio of the medians and the cubes/s at paper size;
* cold: the same, with the page cache of the cube files dropped before every
  pass (``os.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)``; dirty pages are
  flushed first), so both read the disk;
* GPU-shaped: the tf.data stream drained into a no-op ``tf.function`` step on
  the device (the first GPU, else the CPU): what a fast accelerator would see.
  A second figure runs :class:`irpath.layers.DihedralTransform` in that step
  (on a CPU it is a full copy of the batch; on a GPU it is cheap).

A batch is consumed as a host array without a copy (``np.asarray(memoryview(t))``),
as training consumes it. Other work on the machine moves both figures of a pair
alike, so the ratios hold better than the absolute rates; run it 2-3 times.
Prints figures; never passes or fails.

    python benchmarks/input_pipeline.py                 # paper size, 16 spots
    python benchmarks/input_pipeline.py --n 8 --size 128 --passes 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MB = 2**20
PAPER = (256, 256, 450)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=16, help="number of spots")
    p.add_argument("--size", type=int, default=256, help="spot height and width (pixels)")
    p.add_argument("--batch-size", type=int, default=7, help="spots per batch (paper: 7)")
    p.add_argument("--passes", type=int, default=5,
                   help="timed passes of each kind (tf.data and np.fromfile), alternating")
    p.add_argument("--cold-passes", type=int, default=3,
                   help="timed passes of each kind with the page cache dropped (0 = none)")
    p.add_argument("--cache-dtypes", default="float32,float16",
                   help="comma-separated cache dtypes to time, each in its own process")
    p.add_argument("--format", choices=("envi", "npy"), default="envi",
                   help="source file format (envi: BIP float32 via spectral)")
    p.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)  # child mode
    p.add_argument("--json", type=Path, default=None,
                   help="also write every figure (each pass's rate) to this JSON file")
    p.add_argument("--workdir", type=Path, default=None,
                   help="folder for sources and caches (default: a temporary folder, removed)")
    return p.parse_args(argv)


def write_sources(folder: Path, n: int, size: int, fmt: str, axis: np.ndarray) -> Path:
    """N spots: a tissue disk of random positive spectra on a zero background."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    disk = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.45 * size) ** 2
    lines = ["image,label"]
    for i in range(n):
        cube = rng.random((size, size, axis.size), dtype=np.float32)
        cube[~disk] = 0.0
        if fmt == "envi":
            import spectral.io.envi as envi
            name = f"spot_{i:03d}.hdr"
            envi.save_image(str(folder / name), cube, dtype=np.float32, interleave="bip",
                            force=True, metadata={"wavelength": axis.tolist(),
                                                  "wavelength units": "cm-1"})
        else:
            name = f"spot_{i:03d}.npy"
            np.save(folder / name, cube)
        lines.append(f"{name},{i % 2}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def drop_page_cache(paths) -> bool:
    """Evict ``paths`` from the page cache; False where the OS cannot."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages are not evicted
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def _spread(rates) -> dict:
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "all": list(rates)}


def measure(cache_dir: Path, batch_size: int, passes: int, cold_passes: int) -> dict:
    """Child process: cubes/s of tf.data and of np.fromfile on one cache, alternating."""
    from irpath.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    import tensorflow as tf

    from irpath.data import CacheIndex
    from irpath.methods.compsegnet.data import make_dataset
    from irpath.data.cache import _file_dtype
    from irpath.layers import DihedralTransform

    index = CacheIndex.open(cache_dir)
    files = [index.file(e.cube_file) for e in index.entries]
    dtype = _file_dtype(index.cube_dtype)
    # One epoch per pass, from a fresh iterator: nothing is read ahead of a pass (a cold
    # pass starts with the page cache dropped and no batch prefetched). Creating the
    # iterator (tf.data's graph rewrites; once per training run) is timed on its own.
    # Every spot once per pass, as np.fromfile reads them (comparative batches would
    # repeat some spots, which a cold pass would then find in the page cache).
    ds = make_dataset(index, batch_size=batch_size, augment=True, device_augment=True, seed=0)
    for _ in ds.take(1):  # trace the functions once
        pass
    setup = []

    def tf_pass():
        start = time.perf_counter()
        it = iter(ds)
        setup.append(time.perf_counter() - start)
        start, cubes = time.perf_counter(), 0
        for batch in it:  # a host array without a copy, as training consumes it
            cubes += np.asarray(memoryview(batch["cube"])).shape[0]
        return cubes / (time.perf_counter() - start)

    def np_pass():
        start = time.perf_counter()
        for f in files:
            np.fromfile(f, dtype=dtype)
        return len(files) / (time.perf_counter() - start)

    def alternate(n, cold):
        tf_rates, np_rates = [], []
        for _ in range(n):
            for rates, one in ((tf_rates, tf_pass), (np_rates, np_pass)):
                if cold and not drop_page_cache(files):
                    return None
                rates.append(one())
        return {"tf": _spread(tf_rates), "np": _spread(np_rates)}

    out = {"cube_dtype": index.cube_dtype, "cube_mb": os.path.getsize(files[0]) / MB,
           "cubes_per_pass": len(index), "warm": alternate(passes, cold=False),
           "cold": alternate(cold_passes, cold=True) if cold_passes else None,
           "iterator_setup_s": statistics.median(setup)}
    alternate(1, cold=False)  # warm the page cache again for the device figures

    gpus = tf.config.list_logical_devices("GPU")
    device = gpus[0].name if gpus else "/CPU:0"
    flip = DihedralTransform()

    @tf.function
    def noop(batch):
        return tf.reduce_sum(batch["cube"][:, :1, :1, :1])

    @tf.function
    def augment(batch):
        cube, tissue = flip([batch["cube"], batch["tissue"], batch["dihedral"]])
        return tf.reduce_sum(cube[:, :1, :1, :1]) + tf.reduce_sum(tissue[:, :1, :1])

    for name, step in (("device_noop", noop), ("device_augment", augment)):
        rates = []
        with tf.device(device):
            for batch in ds.take(1):
                step(batch)
            for _ in range(passes):
                it = iter(ds)
                start, cubes = time.perf_counter(), 0
                for batch in it:
                    step(batch).numpy()
                    cubes += int(batch["label"].shape[0])
                rates.append(cubes / (time.perf_counter() - start))
        out[name] = _spread(rates)
    out["device"] = device
    return out


def _fmt(s: dict) -> str:
    return f"median {s['median']:6.1f}  range {s['min']:6.1f}-{s['max']:6.1f}"


def report(r: dict, spot_shape) -> None:
    paper = np.prod(PAPER) / np.prod(spot_shape)  # bytes of a paper-size cube / of a spot
    print(f"  cache {r['cube_dtype']} ({r['cube_mb']:.1f} MB per cube, {r['cubes_per_pass']} cubes "
          "per pass; cubes/s, and paper-size cubes/s at the same bytes/s)")
    for kind in ("warm", "cold"):
        m = r[kind]
        if m is None:
            print(f"    {kind}: not measured (no posix_fadvise here)" if kind == "cold" else "")
            continue
        ratio = m["tf"]["median"] / m["np"]["median"]
        print(f"    {kind} tf.data      {_fmt(m['tf'])}  -> {m['tf']['median'] / paper:6.1f} paper-size/s")
        print(f"    {kind} np.fromfile  {_fmt(m['np'])}  -> {m['np']['median'] / paper:6.1f} paper-size/s")
        print(f"    {kind} ratio of the medians tf.data / np.fromfile: {ratio:.2f}")
    print(f"    creating the tf.data iterator (once per training run, not in the rates): "
          f"{r['iterator_setup_s']:.2f} s")
    for name, label in (("device_noop", "no-op step"), ("device_augment", "DihedralTransform step")):
        s = r[name]
        print(f"    GPU-shaped ({label} on {r['device']}): {_fmt(s)}  -> "
              f"{s['median'] / paper:6.1f} paper-size/s")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.batch_size, args.passes, args.cold_passes)))
        return 0
    from irpath.data import build_cache
    from irpath.data.cache import FLOAT16_ABS_ERROR, FLOAT16_REL_ERROR
    from irpath.io import read_manifest
    from irpath.spectra import DEFAULT_AXIS

    work = args.workdir or Path(tempfile.mkdtemp(prefix="irpath_bench_"))
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    shape = (args.size, args.size, DEFAULT_AXIS.size)
    try:
        spot_mb = np.prod(shape) * 4 / MB
        print(f"spots:            {args.n} x {args.size}x{args.size}x{DEFAULT_AXIS.size} float32 "
              f"({spot_mb:.1f} MB each, {args.format}); batch {args.batch_size}")
        t = time.perf_counter()
        manifest = read_manifest(write_sources(src, args.n, args.size, args.format, DEFAULT_AXIS))
        print(f"write sources:    {time.perf_counter() - t:8.2f} s")
        caches = {}
        for dtype in args.cache_dtypes.split(","):
            t = time.perf_counter()
            caches[dtype] = build_cache(manifest, work / f"cache_{dtype}", progress=False,
                                        cube_dtype=dtype)
            dt = time.perf_counter() - t
            print(f"build {dtype} cache: {dt:6.2f} s  ({args.n / dt:.1f} spots/s, one read per "
                  "source cube)")
        if "float16" in caches and "float32" in caches:
            err = rel = 0.0
            for i in range(args.n):
                a, b = caches["float32"].load(i)[0], caches["float16"].load(i)[0]
                d = np.abs(a - b)
                err = max(err, float(d.max()))
                big = np.abs(a) >= 2.0**-14
                rel = max(rel, float((d[big] / np.abs(a[big])).max()) if big.any() else 0.0)
            print(f"float16 vs float32 cache: max abs error {err:.3g}, max relative error "
                  f"{rel:.3g} (stated bound: relative {FLOAT16_REL_ERROR:.3g} above 2**-14, "
                  f"absolute {FLOAT16_ABS_ERROR:.3g} below)")
        shutil.rmtree(src, ignore_errors=True)  # only the caches stay in the page cache

        print(f"pipeline: make_dataset(batch {args.batch_size}, augment, device_augment); "
              f"{args.passes} warm and {args.cold_passes} cold passes of each kind, alternating with "
              "np.fromfile over the same cube files (one thread)")
        results = {}
        for dtype, index in caches.items():
            cmd = [sys.executable, __file__, "--measure", str(index.cache_dir),
                   "--batch-size", str(args.batch_size), "--passes", str(args.passes),
                   "--cold-passes", str(args.cold_passes)]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
            r = json.loads(out.strip().splitlines()[-1])
            report(r, shape)
            results[dtype] = r
        if args.json is not None:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "results": results}, indent=1))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of the training input pipeline against a plain numpy read of the same bytes.

Writes N random spots (default 16 x 256x256x450 float32, as in the CompSegNet
data) as ENVI files plus a manifest into a temporary folder, builds the cache
(timed on its own), then times ``make_dataset(batch_size=4, augment=True)``
over a few epochs and, as the reference, ``np.fromfile`` over the same cache
files. Both read from the page cache, so the figures compare the pipeline's
overhead, not the disk. Prints figures; never passes or fails.

    python benchmarks/input_pipeline.py --n 8 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MB = 2**20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=16, help="number of spots")
    p.add_argument("--size", type=int, default=256, help="spot height and width (pixels)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3, help="timed passes over the data")
    p.add_argument("--format", choices=("envi", "npy"), default="envi",
                   help="source file format (envi: BIP float32 via spectral)")
    p.add_argument("--cpu-bfc", action="store_true",
                   help="set TF_CPU_ALLOCATOR_USE_BFC=true: TF reuses its host buffers instead "
                        "of page-faulting a fresh ~100 MB allocation per copy")
    p.add_argument("--workdir", type=Path, default=None,
                   help="folder for sources and cache (default: a temporary folder, removed)")
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


def time_pipeline(index, batch_size: int, epochs: int):
    from irpath.data import make_dataset

    ds = make_dataset(index, batch_size=batch_size, augment=True, seed=0)
    for _ in ds.take(1):  # build the graph and start the threads once
        pass
    n = nbytes = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in ds:
            cube = batch["cube"]
            n += int(cube.shape[0])
            nbytes += cube.numpy().nbytes  # forces the data to the host, as training would
    return n, nbytes, time.perf_counter() - start


def time_numpy(index, epochs: int):
    n = nbytes = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for e in index.entries:
            cube = np.fromfile(index.file(e.cube_file), dtype="<f4").reshape(e.shape)
            n += 1
            nbytes += cube.nbytes
    return n, nbytes, time.perf_counter() - start


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.cpu_bfc:  # must precede the first TensorFlow import
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
    from irpath.data import build_cache
    from irpath.io import read_manifest
    from irpath.spectra import DEFAULT_AXIS

    work = args.workdir or Path(tempfile.mkdtemp(prefix="irpath_bench_"))
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    try:
        spot_mb = args.size * args.size * DEFAULT_AXIS.size * 4 / MB
        print(f"spots:            {args.n} x {args.size}x{args.size}x{DEFAULT_AXIS.size} float32 "
              f"({spot_mb:.1f} MB each, {args.format}); TF host allocator: "
              f"{'BFC' if os.environ.get('TF_CPU_ALLOCATOR_USE_BFC') == 'true' else 'default'}")
        t = time.perf_counter()
        manifest = write_sources(src, args.n, args.size, args.format, DEFAULT_AXIS)
        print(f"write sources:    {time.perf_counter() - t:8.2f} s")

        t = time.perf_counter()
        index = build_cache(read_manifest(manifest), work / "cache", progress=False)
        dt = time.perf_counter() - t
        print(f"build cache:      {dt:8.2f} s  ({args.n / dt:.1f} spots/s, "
              f"{args.n * spot_mb / dt:.0f} MB/s of cube)")
        t = time.perf_counter()
        build_cache(read_manifest(manifest), work / "cache", progress=False)
        print(f"reuse cache:      {time.perf_counter() - t:8.3f} s  (fingerprint unchanged)")

        n, nbytes, dt = time_pipeline(index, args.batch_size, args.epochs)
        tf_mbs = nbytes / MB / dt
        print(f"tf.data pipeline: {n / dt:8.1f} cubes/s  {tf_mbs:8.0f} MB/s  "
              f"(batch {args.batch_size}, augment, {args.epochs} epochs, {dt:.2f} s)")
        n, nbytes, dt = time_numpy(index, args.epochs)
        np_mbs = nbytes / MB / dt
        print(f"np.fromfile ref.: {n / dt:8.1f} cubes/s  {np_mbs:8.0f} MB/s  "
              f"(same cache files, one thread)")
        print(f"ratio tf.data / np.fromfile: {tf_mbs / np_mbs:.2f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Would moving the RGB pipelines' flips/turns onto the device pay? What they cost on the host.

Times :func:`irpath.data.rgb_pipeline.make_rgb_dataset` on random RGB tiles with
and without the dihedral part of the augmentation (``flips`` / ``rot90``),
alternating the two streams pass by pass, for the augmentations the H&E
methods use:

* ``joint``: :class:`~irpath.data.joint_augment.AugmentConfig` defaults (affine,
  colour, flips/turns: multiloss and nuclei), crops of ``--crop``;
* ``mirror``: flips only (FCN, Sec. 4.2), whole-window crops of ``--fcn-crop``;
  here the flips are all the augmentation there is.

The share of the pipeline's time the flips/turns take is the most a device
path could win on the host; prints it per case with medians and ranges of the
samples/s. Prints figures; never passes or fails.

    python benchmarks/rgb_dihedral.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tiles", type=int, default=16, help="number of RGB tiles")
    p.add_argument("--tile", type=int, default=512, help="tile side (pixels)")
    p.add_argument("--crop", type=int, default=224, help="crop side for the joint augmentation")
    p.add_argument("--fcn-crop", type=int, default=480, help="crop side for the mirror-only case")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--batches", type=int, default=16, help="batches per timed pass")
    p.add_argument("--passes", type=int, default=5, help="timed passes of each stream, alternating")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from irpath.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    import numpy as np

    from irpath.data.joint_augment import AugmentConfig
    from irpath.data.rgb_pipeline import make_rgb_dataset

    rng = np.random.default_rng(0)
    images = [rng.random((args.tile, args.tile, 3), dtype=np.float32) for _ in range(args.tiles)]
    labels = [((rng.random((args.tile, args.tile)) > 0.5).astype(np.int32),) for _ in images]
    mirror = AugmentConfig(rotation=0.0, scale=(1.0, 1.0), shear=0.0, flips=True, rot90=False,
                           brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    cases = {"joint": (args.crop, AugmentConfig()), "mirror": (args.fcn_crop, mirror)}
    print(f"{args.tiles} RGB tiles {args.tile}x{args.tile}, batch {args.batch_size}, "
          f"{args.batches} batches per pass, {args.passes} passes of each stream, alternating")
    results = {}
    for name, (crop, cfg) in cases.items():
        without = replace(cfg, flips=False, rot90=False)
        if not (without.has_affine or without.brightness or without.contrast):
            without = None  # mirror-only minus its flips is no augmentation at all
        streams = {}
        for label, c in (("with", cfg), ("without", without)):
            # One finite pass per timed run, from a fresh iterator: no batch is read ahead
            # (by either stream) while the other is timed.
            streams[label] = make_rgb_dataset(images, labels, crop=crop, batch_size=args.batch_size,
                                              seed=0, augment=c, steps_per_epoch=args.batches)
            for _ in streams[label].take(1):  # trace once
                pass
        rates = {"with": [], "without": []}
        for _ in range(args.passes):
            for label, ds in streams.items():
                it = iter(ds)
                start, n = time.perf_counter(), 0
                for x, _ in it:
                    n += np.asarray(memoryview(x)).shape[0]
                rates[label].append(n / (time.perf_counter() - start))
        med = {k: statistics.median(v) for k, v in rates.items()}
        share = 1.0 - med["with"] / med["without"]
        results[name] = {"crop": crop, "rates": rates, "median": med, "dihedral_share": share}
        for label in ("with", "without"):
            v = rates[label]
            print(f"  {name:6s} crop {crop}: {label:7s} flips/turns: median {med[label]:7.1f} "
                  f"samples/s  range {min(v):7.1f}-{max(v):7.1f}")
        print(f"  {name:6s}: flips/turns take {100 * share:5.1f}% of the pipeline's time "
              "(the most a device path could save on the host)")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

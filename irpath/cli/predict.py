"""``irpath predict [METHOD]``: maps (and the method's results) for new images."""

from __future__ import annotations

import argparse

from irpath.cli.evaluate import add_method_argument
from irpath.cli.main import start_tensorflow
from irpath.inference.predict import DEFAULT_OVERLAP, DEFAULT_TILE, DEFAULT_TILE_LIMIT

HELP = """\
Run a trained model (a run directory, a .keras file or an exported SavedModel)
on new images. The method is read from the model. IR cubes in any supported
format are resampled onto the model's wavenumber axis; RGB tiles are read as
0..255 pixel values.

Writes, per input, DIR/<name>.npy (the maps: H x W for one map, else H x W x K),
DIR/<name>_<result>.npy for the method's results (instance maps have `inst` in
their name, int32), DIR/<name>.png, and DIR/predictions.json naming the input of
every output and the method's numbers (compsegnet: the tumour fraction).
<name> is the file name, prefixed with its folder when two inputs share a name.
No output replaces an input, a model file or a file predict did not write: that is
refused before any work, naming both files. Each file is written to a temporary
and renamed when complete; maps larger than the free space are refused up front.

Images larger than --tile-limit pixels are read lazily and predicted in
overlapping tiles with smooth blending, into a memory-mapped .npy, so memory is
bounded by the tile, not the image.
"""


def add_parser(sub):
    p = sub.add_parser("predict", help="maps for new images",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_method_argument(p)
    p.add_argument("--model", required=True, metavar="MODEL", help="RUN_DIR, .keras file or SAVED_DIR")
    p.add_argument("--input", required=True, nargs="+", metavar="IMAGE",
                   help="image file(s): .hdr .h5 .npy .npz .mat .png .tif ...")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--threshold", type=float, default=None,
                   help="threshold of the method's post-processing (default: the model's; compsegnet 0.35)")
    p.add_argument("--tile-limit", type=int, default=DEFAULT_TILE_LIMIT, metavar="PIXELS",
                   help=f"predict images with more pixels tile by tile (default {DEFAULT_TILE_LIMIT})")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile size in pixels (default {DEFAULT_TILE})")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                   help=f"tile overlap in pixels (default {DEFAULT_OVERLAP})")
    p.add_argument("--tta", action="store_true",
                   help="average the maps over the 8 flips / 90° turns of the input (8x slower)")
    p.set_defaults(func=run)


def run(args) -> int:
    from irpath.errors import ConfigError

    if args.tile < 16 or not 0 <= args.overlap < args.tile // 2 or args.tile_limit < 1:
        raise ConfigError(f"--tile must be >= 16 and --overlap in [0, tile/2), got tile {args.tile}, "
                          f"overlap {args.overlap}")
    start_tensorflow()
    from irpath.inference.loading import load_predictor
    from irpath.inference.predict import predict_files
    from irpath.io.paths import make_output_dir

    predictor = load_predictor(args.model, method=args.method)
    predictor.method_obj.threshold(predictor.config, args.threshold)  # refuse a bad value up front
    make_output_dir(args.out)
    predict_files(predictor, args.input, args.out, threshold=args.threshold, tile_limit=args.tile_limit,
                  tile=args.tile, overlap=args.overlap, tta=args.tta)
    print(f"maps: {args.out}/predictions.json")
    return 0

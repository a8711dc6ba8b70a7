"""``irpath predict [METHOD]``: maps (and the method's results) for new images."""

from __future__ import annotations

import argparse

from irpath.cli.evaluate import add_method_argument
from irpath.cli.main import start_tensorflow
from irpath.inference.plan import DEFAULT_OVERLAP, DEFAULT_TILE, MAX_TILE, TILE_BYTES

HELP = """\
Run a trained model (a run directory, a .keras file or an exported SavedModel)
on new images. The method is read from the model. IR cubes in any supported
format are resampled onto the model's wavenumber axis; RGB tiles are read as
0..255 pixel values.

Writes, per input, DIR/<name>.npy (the maps: H x W for one map, else H x W x K),
DIR/<name>_<result>.npy for the method's results (instance maps have `inst` in
their name, int32), DIR/<name>.png, and DIR/predictions.json naming the input of
every output and the method's numbers (compsegnet: the tumour fraction).
With --geojson also DIR/<name>.geojson, the results as QuPath objects.
<name> is the file name, prefixed with its folder when two inputs share a name.
No output replaces an input, a model file or a file predict did not write: that is
refused before any work, naming both files. Each file is written to a temporary
and renamed when complete; maps larger than the free space are refused up front.

An image goes through the model whole only when that fits --memory-limit
(default: a quarter of the memory available at start); otherwise it is read
lazily and predicted in overlapping tiles with smooth blending, into a
memory-mapped .npy, so memory is bounded by the tile, not the image.

Slides (.svs .ndpi .mrxs .scn .vms .bif, generic tiled TIFF) and OME-TIFF /
pyramidal TIFFs are read a region at a time at --mpp (default: the model's
recorded µm/px) from the nearest pyramid level, resampled; only tiles touching
tissue are computed (--tissue). They give DIR/<name>_<map>.ome.tif (pyramidal,
with the pixel size) and DIR/<name>_overlay.png instead of the .npy and .png.
predictions.json records per input tissue_fraction, mpp, level, downsample
(level-0 pixels per map pixel) and the files. A re-run skips images whose
outputs are complete.

IR mosaics that are tiled (larger than --memory-limit allows whole, or above
--tile-limit) skip background tiles too: --tissue auto takes the tissue mask
from the amide I band alone (1630-1680 cm^-1, read a row block at a time, so
memory stays bounded; the whole spectrum when the axis misses the band), a
MASK image gives it directly; only tiles touching tissue go through the model,
the rest of the map is filled with 0, and tissue_fraction is the fraction of
the cube's area that was computed. Tissue pixels get the same values as with
--tissue none. A cube predicted whole is computed everywhere (tissue_fraction 1).

examples:
  irpath predict --model runs/fcn --input slides/*.svs --out P --mpp 2
  irpath predict --model runs/fcn --input slides/*.svs --out P --workers 4
  irpath predict --model runs/fcn --input slides/*.svs --out P --scheduler tcp://head:8786
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
    p.add_argument("--tile-limit", type=int, default=None, metavar="PIXELS",
                   help="also tile every image with more pixels (default: memory decides)")
    p.add_argument("--tile", type=int, default=None,
                   help=f"tile size in pixels (default: the method's tile, else the largest multiple of 32 "
                        f"whose working set fits {TILE_BYTES // 2**20} MB, {DEFAULT_TILE}..{MAX_TILE}: "
                        f"{DEFAULT_TILE} for 450-channel IR models, {MAX_TILE} for RGB ones)")
    p.add_argument("--overlap", type=int, default=None,
                   help=f"tile overlap in pixels (default: the method's, else {DEFAULT_OVERLAP})")
    res = p.add_mutually_exclusive_group()
    res.add_argument("--mpp", type=float, default=None, metavar="M",
                     help="predict slides at M µm per pixel (nearest level, resampled); default: the model's")
    res.add_argument("--level", type=int, default=None, metavar="L", help="predict slides at pyramid level L")
    p.add_argument("--tissue", default="auto", metavar="auto|none|MASK",
                   help="auto: slides: Otsu tissue mask on a thumbnail; tiled IR mosaics: the amide I "
                        "absorbance mask; only tiles touching it are computed, background filled with 0; "
                        "none: every pixel; or a mask image (default auto)")
    p.add_argument("--memory-limit", type=float, default=None, metavar="GB",
                   help="memory a whole-image pass may use (default: a quarter of the available memory)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="predict the images on a local dask cluster of N processes")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="predict the images on the dask cluster at ADDRESS (tcp://HOST:8786)")
    p.add_argument("--geojson", action="store_true",
                   help="also write DIR/<name>.geojson: the results as a QuPath FeatureCollection (drop it on "
                        "the image in QuPath 0.4+): fcn one annotation per class, nuclei one detection per "
                        "nucleus, multiloss one annotation per gland (the image's class as a collection "
                        "property), compsegnet the tumour regions; level-0 pixel coordinates, area (µm² "
                        "when the µm/px is known) and mean class probability per object; objects under "
                        "4 map pixels are dropped")
    p.add_argument("--simplify", type=float, default=None, metavar="PX",
                   help="--geojson polygon simplification tolerance in map pixels (default 0.5; 0: none)")
    p.add_argument("--tta", action="store_true",
                   help="average the maps over the 8 flips / 90° turns of the input (8x slower)")
    p.set_defaults(func=run)


def run(args) -> int:
    from irpath.errors import ConfigError

    tile, overlap = args.tile or DEFAULT_TILE, DEFAULT_OVERLAP if args.overlap is None else args.overlap
    if args.simplify is not None and not (args.simplify >= 0 and args.simplify < float("inf")):
        raise ConfigError(f"--simplify must be a number of pixels >= 0, got {args.simplify}")
    if args.simplify is not None and not args.geojson:
        raise ConfigError("--simplify applies to --geojson polygons: give --geojson too")
    if tile < 16 or not 0 <= overlap < tile // 2 or (args.tile_limit is not None and args.tile_limit < 1):
        raise ConfigError(f"--tile must be >= 16 and --overlap in [0, tile/2), got tile {args.tile}, "
                          f"overlap {args.overlap}")
    from irpath.inference.plan import memory_limit_bytes

    budget = memory_limit_bytes(args.memory_limit)
    start_tensorflow()
    from irpath.inference.loading import load_predictor
    from irpath.inference.predict import PredictOptions, predict_files
    from irpath.io.paths import make_output_dir

    predictor = load_predictor(args.model, method=args.method)
    predictor.method_obj.threshold(predictor.config, args.threshold)  # refuse a bad value up front
    make_output_dir(args.out)
    opts = PredictOptions(threshold=args.threshold, tile_limit=args.tile_limit, tile=args.tile,
                          overlap=args.overlap, tta=args.tta, mpp=args.mpp, level=args.level,
                          tissue=args.tissue, memory_limit=budget, geojson=args.geojson,
                          simplify=args.simplify)
    predict_files(predictor, args.input, args.out, options=opts, workers=args.workers, scheduler=args.scheduler,
                  worker_setup=start_tensorflow)
    print(f"maps: {args.out}/predictions.json")
    return 0

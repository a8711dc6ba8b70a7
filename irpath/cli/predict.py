"""``irpath predict``: activation maps for new cubes."""

from __future__ import annotations

import argparse

from irpath.cli.main import start_tensorflow

HELP = """\
Segment new spots with a trained model (a run directory, a segmenter .keras file
or an exported SavedModel). Cubes in any supported format are resampled onto the
model's wavenumber axis. Writes DIR/<name>.npy (H x W activation map in [0, 1]),
DIR/<name>.png (tissue image, map, thresholded map) and DIR/predictions.json
with each cube's tumour fraction.
"""


def add_parser(sub):
    p = sub.add_parser("predict", help="activation maps for new cubes",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="MODEL", help="RUN_DIR, .keras file or SAVED_DIR")
    p.add_argument("--input", required=True, nargs="+", metavar="CUBE", help="cube file(s): .hdr .h5 .npy .npz .mat")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--threshold", type=float, default=None, help="activation threshold (default: the model's, 0.35)")
    p.set_defaults(func=run)


def run(args) -> int:
    start_tensorflow()
    from irpath.inference.loading import load_predictor
    from irpath.inference.predict import predict_files

    predict_files(load_predictor(args.model), args.input, args.out, threshold=args.threshold)
    print(f"maps: {args.out}/predictions.json")
    return 0

"""``irpath export``: write a trained segmenter as a TensorFlow SavedModel."""

from __future__ import annotations

import argparse

from irpath.cli.main import start_tensorflow

HELP = """\
Export the U-Net segmenter of a run as a TensorFlow SavedModel. Its `serve`
signature takes raw (N, H, W, 450) float32 cubes on the model's wavenumber axis,
any H and W, and returns (N, H, W, 1) activation maps: standardisation,
background masking and padding are inside. SAVED_DIR/irpath.json keeps the config.
"""


def add_parser(sub):
    p = sub.add_parser("export", help="export the segmenter as a SavedModel",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory or segmenter .keras file")
    p.add_argument("--out", required=True, metavar="SAVED_DIR", help="SavedModel directory (replaced if present)")
    p.set_defaults(func=run)


def run(args) -> int:
    start_tensorflow()
    from irpath.inference.export import export_segmenter

    out = export_segmenter(args.model, args.out)
    print(out)
    return 0

"""``irpath export [METHOD]``: write a trained model as a TensorFlow SavedModel."""

from __future__ import annotations

import argparse

from irpath.cli.evaluate import add_method_argument
from irpath.cli.main import start_tensorflow

HELP = """\
Export the inference model of a run as a TensorFlow SavedModel. Its `serve`
signature takes raw (N, H, W, C) float32 images (IR: cubes on the model's
wavenumber axis, e.g. 450 channels; RGB: pixel values 0..255), any H and W, and
returns (N, H, W, K) maps: normalisation and padding are inside.
SAVED_DIR/irpath.json records the method and its config.

The export is written beside --out and moved into place only when complete. An
existing --out that is not an irpath export is never replaced; replacing an
earlier export needs --overwrite. The run itself is never modified.

A SavedModel is a program: load only SavedModels you trust.
"""


def add_parser(sub):
    p = sub.add_parser("export", help="export the inference model as a SavedModel",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_method_argument(p)
    p.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory or .keras file")
    p.add_argument("--out", required=True, metavar="SAVED_DIR", help="SavedModel directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier irpath export at --out")
    p.set_defaults(func=run)


def run(args) -> int:
    start_tensorflow()
    from irpath.inference.export import export_model
    from irpath.inference.loading import model_meta
    from irpath.errors import ConfigError

    if args.method is not None:
        name, _ = model_meta(args.model)
        if name != args.method:
            raise ConfigError(f"{args.model}: was trained with method {name!r}, not {args.method!r}")
    out = export_model(args.model, args.out, overwrite=args.overwrite)
    print(out)
    return 0

"""``irpath ensemble``: average several trained runs of one recipe into one model."""

from __future__ import annotations

import argparse
import sys

from irpath.cli.main import start_tensorflow

HELP = """\
Average the maps of several runs of one recipe (e.g. the same config trained
with --seed 0, 1, 2) into one model: a deep ensemble. The runs must share the
method and model config. ENSEMBLE_DIR gets config.json (the recipe, plus the
member list under "ensemble"), segmenter.keras (image -> every member -> mean)
and saved_model/, so `irpath evaluate`, `predict` and `export` take
--model ENSEMBLE_DIR as they take a run. Costs: one training per member, and
prediction takes as long as all members together.

example:
  for s in 0 1 2 3; do irpath train compsegnet --config models/compsegnet-hard/config.json \\
      --seed $s --train-manifest train.csv --val-manifest val.csv --out runs/s$s; done
  irpath ensemble --out runs/ensemble runs/s0 runs/s1 runs/s2 runs/s3
  irpath evaluate --model runs/ensemble --manifest test.csv --out runs/ensemble/eval
"""


def add_parser(sub):
    p = sub.add_parser("ensemble", help="average several runs of one recipe into one model",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", metavar="RUN_DIR",
                   help="two or more run directories (or their segmenter.keras)")
    p.add_argument("--out", required=True, metavar="ENSEMBLE_DIR", help="folder to create (new or empty)")
    p.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    p.set_defaults(func=run)


def run(args) -> int:
    start_tensorflow()
    from irpath.inference.ensemble import make_ensemble

    out = make_ensemble(args.models, args.out, export=not args.no_export)
    print(f"ensemble of {len(args.models)} models written to {out}", file=sys.stderr)
    print(out)
    return 0

"""``irpath evaluate METHOD``: spot AUC and Dice of a trained model on a manifest."""

from __future__ import annotations

import argparse
import json

from irpath.cli.main import start_tensorflow

HELP = """\
Evaluate a trained segmenter as in the CompSegNet paper: activation maps are
thresholded (default 0.35), each spot's tumour fraction (active tissue pixels /
tissue pixels) is scored against its label by ROC (spot-level AUC), and Dice is
computed between the thresholded map and the manifest's `mask` over cancer spots.

Writes EVAL_DIR/report.json (auc, dice_mean, dice_std, threshold, per-spot list),
roc.png, overlays/*.png (tissue image, map, thresholded map, GT contour) and maps/*.npy.
"""


def add_parser(sub):
    p = sub.add_parser("evaluate", help="spot AUC and Dice on a labelled manifest",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=("compsegnet",), help="the method the model was trained with")
    p.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory, segmenter .keras or SavedModel")
    p.add_argument("--manifest", required=True, metavar="CSV", help="test spots (image,label[,mask][,tissue])")
    p.add_argument("--out", required=True, metavar="EVAL_DIR", help="output directory (created)")
    p.add_argument("--threshold", type=float, default=None, help="activation threshold (default: the model's, 0.35)")
    p.set_defaults(func=run)


def run(args) -> int:
    start_tensorflow()
    from irpath.inference.evaluate import evaluate
    from irpath.inference.loading import load_predictor

    report = evaluate(load_predictor(args.model), args.manifest, args.out, threshold=args.threshold)
    brief = {k: report[k] for k in ("auc", "dice_mean", "dice_std", "threshold", "n_spots")}
    print(json.dumps(brief))
    print(f"report: {args.out}/report.json")
    return 0

"""``irpath evaluate [METHOD]``: a trained model's report on labelled data."""

from __future__ import annotations

import argparse
import json

from irpath.cli.main import start_tensorflow
from irpath.methods import get_method, method_names

HELP = """\
Evaluate a trained model on labelled data with its method's metrics. The method
is read from the model; METHOD may be given and must then agree with it.

Every method writes EVAL_DIR/report.json; each method's group below says what it
measures, and its options are used by the method named in their help.

Images are predicted as `irpath predict` does (one inference path: whole or tiled
as --memory-limit allows), so evaluate and predict give the same maps. With
--mpp M (fcn, nuclei, multiloss) every image is read at M µm per pixel: slides,
OME-TIFFs and pyramidal TIFFs from the nearest pyramid level, resampled, every
pixel computed (the maps of `predict --mpp M --tissue none`); without --mpp, at
the µm/px the run recorded (train --mpp), else at the image's own grid. The
labels are brought to the prediction grid by nearest neighbour (a map pixel
takes the label at its centre), so the scores count map pixels at M µm/px. An
image that records no pixel size is refused with --mpp (one line, exit 2), and
so is compsegnet (its IR cubes record no pixel size: spots are scored on their
own pixel grid).
"""


def add_method_argument(p) -> None:
    p.add_argument("method", nargs="?", default=None, choices=method_names(), metavar="METHOD",
                   help=f"optional: the model's method ({', '.join(method_names())}); read from the "
                        "model when omitted")


def add_parser(sub):
    p = sub.add_parser("evaluate", help="a trained model's metrics on labelled data",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_method_argument(p)
    p.add_argument("--model", required=True, metavar="MODEL", help="run directory, .keras file or SavedModel")
    p.add_argument("--out", required=True, metavar="EVAL_DIR", help="output directory (created)")
    p.add_argument("--tile-limit", type=int, default=None, metavar="PIXELS",
                   help="also tile every image with more pixels (default: memory decides)")
    p.add_argument("--memory-limit", type=float, default=None, metavar="GB",
                   help="memory a whole-image pass may use; larger images are tiled, as predict does "
                        "(default: a quarter of the available memory)")
    p.add_argument("--mpp", type=float, default=None, metavar="M",
                   help="read the images at M µm per pixel (slides / pyramidal TIFFs: nearest level, "
                        "resampled; labels by nearest neighbour onto that grid; default: the run's "
                        "recorded µm/px); refused for an image without a recorded pixel size and for "
                        "compsegnet")
    p.add_argument("--geojson", action="store_true",
                   help="also write EVAL_DIR/geojson/<name>.geojson: each image's predictions as QuPath "
                        "objects (as predict --geojson writes them)")
    p.add_argument("--simplify", type=float, default=None, metavar="PX",
                   help="--geojson polygon simplification tolerance in map pixels (default 0.5)")
    seen: dict = {}
    _SharedGroup(p, seen).add_argument(
        "--data", default=None, metavar="DATA",
        help="the labelled data (a method without its own evaluation: an image,label manifest, "
             "scored by pixel accuracy and Dice)")
    for name in method_names():
        group = p.add_argument_group(f"{name} options", get_method(name).evaluate_help or None)
        get_method(name).add_evaluate_arguments(_SharedGroup(group, seen))
    p.set_defaults(func=run)


def _earlier_report(out, method) -> tuple:
    """A folder an earlier evaluate wrote (its report.json names a model and a method)
    before outputs were recorded: its outputs are evaluate's own."""
    from pathlib import Path

    try:
        report = json.loads((Path(out) / "report.json").read_text())
        return method.evaluate_outputs if {"model", "method"} <= set(report) else ()
    except (OSError, ValueError, TypeError):
        return ()


class _SharedGroup:
    """An argument group that shares flags another method already added (same name,
    same meaning: methods give them ``default=None`` and apply their own defaults);
    the shared flag's help then lists every method's use of it."""

    def __init__(self, group, seen: dict):
        self.group, self.seen = group, seen

    def add_argument(self, *flags, **kwargs):
        for f in flags:
            if f in self.seen:
                action = self.seen[f]
                if kwargs.get("help") and kwargs["help"] not in (action.help or ""):
                    action.help = f"{action.help}; {kwargs['help']}" if action.help else kwargs["help"]
                return action
        action = self.group.add_argument(*flags, **kwargs)
        self.seen.update(dict.fromkeys(flags, action))
        return action


def run(args) -> int:
    from irpath.inference.plan import memory_limit_bytes
    from irpath.inference.resolution import check_mpp

    args.memory_limit_bytes = memory_limit_bytes(getattr(args, "memory_limit", None))
    check_mpp(getattr(args, "mpp", None))
    start_tensorflow()
    from irpath.cli.main import command_inputs
    from irpath.inference.loading import load_predictor, model_files
    from irpath.io.paths import plan_outputs

    predictor = load_predictor(args.model, method=args.method)
    method = get_method(predictor.method)
    if args.simplify is not None and not args.simplify >= 0:
        from irpath.errors import ConfigError

        raise ConfigError(f"--simplify must be a number of pixels >= 0, got {args.simplify}")
    outputs = tuple(method.evaluate_outputs) + (("geojson/",) if args.geojson else ())
    plan_outputs(args.out, outputs, command="evaluate",
                 inputs=command_inputs(args, skip=("out", "model")),
                 model_files=model_files(predictor.source), owned=_earlier_report(args.out, method))
    values = dict(vars(args), memory_limit=args.memory_limit_bytes)
    report = method.evaluate(predictor, method.evaluate_options.from_values(values), args.out)
    print(json.dumps(method.brief(report)))
    print(f"report: {args.out}/report.json")
    return 0

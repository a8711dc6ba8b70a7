"""``irpath train METHOD``: train a model of any registered method into a run directory."""

from __future__ import annotations

import argparse

from irpath.cli.main import start_tensorflow
from irpath.methods import get_method, method_names

HELP = """\
Train a model. Each method has its own data flags and recipe; see
`irpath train METHOD --help`. Every run directory is resumable: re-running with
the same --out continues from the last finished epoch.
"""


def add_parser(sub):
    p = sub.add_parser("train", help="train a model of one method",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    methods = p.add_subparsers(dest="method", metavar="METHOD", required=True)
    for name in method_names():
        m = get_method(name)
        mp = methods.add_parser(name, help=m.summary, description=m.description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        mp.add_argument("--out", required=True, metavar="RUN_DIR",
                        help="run directory (created; resumed if present)")
        mp.add_argument("--config", metavar="FILE", default=None,
                        help="start from a recipe file (e.g. models/NAME/config.json); flags given "
                             "on the command line override it")
        m.add_train_arguments(mp)
        mp.set_defaults(func=run, _parser=mp)


def _apply_recipe_file(args, method):
    """Re-parse with the recipe file's values as defaults, so explicit flags still win."""
    from irpath.config import read_recipe

    _, model_cfg, train_cfg = read_recipe(args.config, method=method.name)
    parser = args._parser
    dests = {a.dest for a in parser._actions}
    defaults = {k: v for k, v in method.args_from_configs(model_cfg, train_cfg).items() if k in dests}
    parser.set_defaults(**defaults)
    argv = list(args._argv)
    rest = argv[argv.index(method.name, argv.index("train")) + 1:]
    new = parser.parse_args(rest)
    new.base_model_config, new.base_train_config = model_cfg, train_cfg
    return new


def run(args) -> int:
    method = get_method(args.method)
    if args.config:
        args = _apply_recipe_file(args, method)
    model_cfg, train_cfg = method.configs_from_args(args)
    start_tensorflow()
    method.train(method.data_from_args(args), args.out, model_cfg, train_cfg)
    return 0

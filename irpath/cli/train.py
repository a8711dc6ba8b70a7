"""``irpath train METHOD``: train a model of any registered method into a run directory."""

from __future__ import annotations

import argparse

from irpath.cli.main import start_tensorflow
from irpath.methods import get_method, method_names

HELP = """\
Train a model. Each method has its own data flags and recipe; see
`irpath train METHOD --help`. Every run directory is resumable: re-running with
the same --out continues from the last finished epoch, or from the step a SIGTERM
stopped at (exit code 75). A non-finite loss stops with exit code 2 and keeps the
last good checkpoint; resume with a lower --lr.

Several GPUs on one host are used automatically (MirroredStrategy). Several hosts:
set TF_CONFIG on each (MultiWorkerMirroredStrategy; see the README). --local-workers N
runs N workers on this machine.
"""

RUNTIME_HELP = ("how to run, not what to train: not part of the recipe; all but "
                "--mixed-precision may differ when a run is resumed")


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
        add_shared_train_arguments(mp, m)
        add_runtime_arguments(mp)
        mp.set_defaults(func=run, _parser=mp)


#: Help of the shared train flags when a method gives none.
SHARED_HELP = {"epochs": "epochs", "batch_size": "samples per batch and replica",
               "lr": "learning rate", "seed": "random seed (weights, data order, augmentation)"}


def add_shared_train_arguments(parser, method) -> None:
    """``--epochs``, ``--batch-size``, ``--lr``, ``--seed``: declared once for every method,
    with the method's train-config defaults and :attr:`~irpath.methods.base.Method.flag_help`."""
    import dataclasses

    from irpath.methods.base import SHARED_TRAIN_FLAGS, shared_train_fields

    defaults = {f.name: f.default for f in dataclasses.fields(method.train_config_class)}
    g = parser.add_argument_group("training")
    for field in shared_train_fields(method.train_config_class):
        value = defaults[field]
        text = method.flag_help.get(field, SHARED_HELP[field])
        g.add_argument(SHARED_TRAIN_FLAGS[field], dest=field, default=value,
                       type=float if field == "lr" else int,
                       help=f"{text} (default {value:g})" if field == "lr" else f"{text} (default {value})")


def add_runtime_arguments(parser) -> None:
    """The method-agnostic runtime flags of every ``irpath train METHOD``."""
    g = parser.add_argument_group("runtime", RUNTIME_HELP)
    g.add_argument("--local-workers", type=int, default=0, metavar="N",
                   help="train as N MultiWorkerMirroredStrategy workers on this machine "
                        "(127.0.0.1, free ports; worker 0 writes the run directory); exits 0 "
                        "when all workers did")
    g.add_argument("--deterministic", action="store_true",
                   help="TensorFlow op determinism: with the recipe's --seed, a run repeats bit for "
                        "bit on the same machine, and a killed-and-resumed run ends with the same "
                        "weights as an uninterrupted one (slower)")
    g.add_argument("--mixed-precision", action="store_true",
                   help="compute in float16 on GPU (bfloat16 on CPU) with float32 weights and "
                        "outputs; the first convolution's input channels are padded to a "
                        "multiple of 8")
    g.add_argument("--jit-compile", action="store_true", help="XLA-compile the training step")
    g.add_argument("--no-export", dest="export", action="store_false",
                   help="do not write the run's saved_model/ at the end (quicker for experiments; "
                        "`irpath export --model RUN --out DIR` writes it later)")
    g.add_argument("--time-limit", type=float, default=None, metavar="MIN",
                   help="stop training after the last epoch that fits in MIN minutes of wall clock "
                        "(e.g. a cluster job's limit); the run is finished from its best model, "
                        "and running the same command again goes on from there")
    g.add_argument("--mpp", type=float, default=None, metavar="M",
                   help="µm per pixel of the training images, recorded in the run (resolution.json); "
                        "`irpath predict` then reads slides at this resolution")


def _apply_recipe_file(args, method):
    """Re-parse with the recipe file's values as defaults, so explicit flags still win."""
    from irpath.config import read_recipe

    _, model_cfg, train_cfg = read_recipe(args.config, get_method, method=method.name)
    parser = args._parser
    dests = {a.dest for a in parser._actions}
    defaults = {k: v for k, v in method.args_from_configs(model_cfg, train_cfg).items() if k in dests}
    parser.set_defaults(**defaults)
    argv = list(args._argv)
    rest = argv[argv.index(method.name, argv.index("train")) + 1:]
    new = parser.parse_args(rest)
    new.base_model_config, new.base_train_config = model_cfg, train_cfg
    return new


def _multi_worker() -> bool:
    from irpath.train.cluster import task

    return task().multi_worker


def run(args) -> int:
    method = get_method(args.method)
    if args.config:
        args = _apply_recipe_file(args, method)
    model_cfg, train_cfg = method.configs_from_args(args)  # check the recipe before launching
    if args.mpp is not None and not args.mpp > 0:
        from irpath.errors import ConfigError

        raise ConfigError(f"--mpp must be > 0, got {args.mpp}")
    if args.jit_compile and args.deterministic:
        from irpath.errors import ConfigError

        raise ConfigError("--jit-compile and --deterministic cannot be combined (Keras does not "
                          "XLA-compile under op determinism); drop one")
    if args.time_limit is not None and not args.time_limit > 0:
        from irpath.errors import ConfigError

        raise ConfigError(f"--time-limit must be > 0 minutes, got {args.time_limit:g}")
    if args.time_limit is not None and (args.local_workers or _multi_worker()):
        from irpath.errors import ConfigError
        from irpath.train.fit import TIME_LIMIT_ONE_PROCESS

        raise ConfigError(TIME_LIMIT_ONE_PROCESS)
    if args.local_workers:
        from irpath.train.launcher import launch, strip_flag

        return launch(args.local_workers, strip_flag(args._argv, "--local-workers"))
    from irpath.cli.main import command_inputs
    from irpath.train.cluster import task
    from irpath.train.run_dir import plan_run
    from irpath.train.runtime import RuntimeOptions, configure

    if not task().multi_worker or task().is_chief:  # before any work: outputs never replace inputs
        plan_run(args.out, method.run_outputs, inputs=command_inputs(args))

    strategy = None
    if task().multi_worker:  # must exist before TensorFlow initialises its devices
        def multi_worker_strategy():
            from irpath.train.strategy import make_strategy

            return make_strategy()

        strategy = start_tensorflow(multi_worker_strategy)
    else:
        start_tensorflow()
    configure(RuntimeOptions(deterministic=args.deterministic,
                             mixed_precision=args.mixed_precision, jit_compile=args.jit_compile))
    from irpath.train import run as train_run

    train_run(method, method.data_from_args(args), args.out, model_cfg, train_cfg, strategy=strategy,
              export=args.export, time_limit=None if args.time_limit is None else args.time_limit * 60)
    if args.mpp is not None:
        from irpath.inference.loading import record_mpp

        record_mpp(args.out, args.mpp)
    return 0

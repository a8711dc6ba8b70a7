"""``irpath`` entry point: dispatches to one module per sub-command.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
User errors (:class:`irpath.errors.IrpathError`) become one line on stderr,
``irpath: error: <file>: <problem>``, and exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from irpath import __version__
from irpath.errors import IrpathError

#: Sub-commands, in the order ``--help`` lists them (module irpath.cli.<name>).
COMMANDS = ("inspect", "train", "evaluate", "export", "predict", "demo")

DESCRIPTION = """\
irpath finds disease-associated regions in IR hyperspectral (H x W x 450) and
H&E images. CompSegNet trains a U-Net from spot-level cancer / cancer-free
labels only; the U-Net is then used as a tumour segmenter.

typical session:
  irpath inspect spots/*.hdr                      check your cubes
  irpath train compsegnet --train-manifest train.csv --val-manifest val.csv --out run
  irpath evaluate compsegnet --model run --manifest test.csv --out run/eval
  irpath export --model run --out run/saved_model
  irpath predict --model run --input new_spot.hdr --out maps
  irpath demo                                     all of the above on synthetic data
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irpath", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"irpath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"irpath.cli.{name}").add_parser(sub)
    return parser


def _quiet_tensorflow():
    """Silence TensorFlow's C++ logging; set before TF is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def start_tensorflow() -> None:
    """Import TensorFlow and initialise its devices with stderr muted.

    TensorFlow prints CUDA probing lines ("Could not find cuda drivers ...")
    before its logging is configured, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
    Python exceptions still propagate. Set IRPATH_TF_LOGS=1 to see the lines.
    """
    if "tensorflow" in sys.modules or os.environ.get("IRPATH_TF_LOGS"):
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    _quiet_tensorflow()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except IrpathError as exc:
        print(f"irpath: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("irpath: interrupted", file=sys.stderr)
        return 130


def run():
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()

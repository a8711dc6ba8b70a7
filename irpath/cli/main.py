"""``irpath`` entry point: dispatches to one module per sub-command.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
User errors (:class:`irpath.errors.IrpathError`, OSErrors that name a file, and a
full disk, a quota, a read-only file system or a denied write anywhere, even
wrapped in another exception) become one line on stderr,
``irpath: error: <file>: <problem>``, and exit code 2, with no traceback. Anything else is a bug: one line naming the exception, the
traceback written to a log file whose path the line gives, and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from irpath import __version__
from irpath.errors import IrpathError

#: Sub-commands, in the order ``--help`` lists them (module irpath.cli.<name>).
COMMANDS = ("inspect", "correct", "train", "evaluate", "export", "ensemble", "predict", "demo")

DESCRIPTION = """\
irpath finds disease-associated regions in IR hyperspectral (H x W x 450) and
H&E images. Methods (`irpath train --help` lists them): CompSegNet trains a
U-Net from spot-level cancer / cancer-free labels only; the U-Net is then used
as a tumour segmenter. evaluate, export and predict read the method from the model.

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
    """Silence TensorFlow's C++ logging and pick its host allocator; set before TF is imported.

    ``TF_CPU_ALLOCATOR_USE_BFC``: TensorFlow's default CPU allocator page-faults a fresh
    buffer for every tensor, ~100 MB per cube copy in the input pipeline; the BFC
    allocator reuses its buffers, which makes tf.data ~2.6x cheaper per GB
    (``benchmarks/input_pipeline.py``). It keeps its peak memory until the process ends.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


def start_tensorflow(first=None):
    """Import TensorFlow and initialise its devices with stderr muted.

    TensorFlow prints CUDA probing lines ("Could not find cuda drivers ...")
    before its logging is configured, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
    Python exceptions still propagate. Set IRPATH_TF_LOGS=1 to see the lines.

    Args:
        first: called before the devices are initialised (e.g. to create a
            ``MultiWorkerMirroredStrategy``, which must come first); its result is returned.
    """
    if "tensorflow" in sys.modules or os.environ.get("IRPATH_TF_LOGS"):
        return first() if first else None
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        result = first() if first else None
        tf.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    _quiet_tensorflow()
    try:
        parser = build_parser()  # imports every registered method (IRPATH_METHODS too)
    except IrpathError as exc:
        print(f"irpath: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    args._argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except IrpathError as exc:
        print(f"irpath: error: {_one_line(str(exc))}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        print("irpath: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = _environment_failure(exc, getattr(args, "out", None))
        if code is not None:
            return code
        if not isinstance(exc, OSError):  # the last resort: one line, the traceback in a log file
            return _unexpected(exc)
        if exc.filename is None:
            return _unexpected(exc)
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        print(f"irpath: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _environment_failure(exc: Exception, out) -> int | None:
    """Exit code 2 and one line (the path, the errno in words, the remedy) when ``exc``
    comes from a full disk, a quota, a read-only file system or a denied write; else None."""
    from irpath.io.paths import environment_error

    err = environment_error(exc, out or "the output")
    if err is None:
        return None
    print(f"irpath: error: {_one_line(str(err))}", file=sys.stderr)
    return 2


def command_inputs(args, skip=("out",)) -> list[Path]:
    """What a command reads, for :func:`irpath.io.paths.plan_outputs`: the existing files and
    folders named by ``args``' values (all but ``skip``), the images, masks and tissue masks
    of the manifests among them, and the data files of ENVI headers."""
    from irpath.io import read_manifest
    from irpath.io.paths import input_files

    found = []
    for key, value in vars(args).items():
        if key in skip or key.startswith("_"):
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (str, Path)) and str(v) and os.path.exists(v):
                found.append(Path(v))
    for p in list(found):
        if p.suffix.lower() == ".csv" and p.is_file():
            try:
                rows = read_manifest(p).rows
            except IrpathError:  # not a manifest, or a bad one the command itself reports
                continue
            found += [f for r in rows for f in (r.image, r.mask, r.tissue) if f]
    return input_files(found)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _unexpected(exc: BaseException) -> int:
    """Print one line naming the exception; write the traceback to a log file."""
    import tempfile
    import time
    import traceback

    log = Path(tempfile.gettempdir()) / f"irpath-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        log.write_text("".join(traceback.format_exception(exc)))
        where = f"; traceback in {log}"
    except OSError:
        where = ""
    print(f"irpath: error: unexpected {type(exc).__name__}: {_one_line(str(exc))[:300]}{where}",
          file=sys.stderr)
    return 1


def run():
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()

"""Export any method's inference model as a TensorFlow SavedModel whose ``serve`` takes raw images.

The export is written to a temporary sibling folder and renamed into place only
when complete, so a failed export never destroys a previous one; a full disk is
refused up front (the model's size against the free space) or, mid-write, gives a
one-line :class:`~irpath.io.paths.DiskError` and leaves no temporary. An ``--out``
that exists and is not an irpath export is refused; replacing an export needs
``overwrite``. The model being exported, and the run that holds it, are never
touched.
"""

from __future__ import annotations

import sys
from pathlib import Path

from irpath.errors import IrpathError, MissingFileError
from irpath.inference.loading import (load_inference_model, model_files,
                                      record_mpp, recorded_mpp, write_export_meta)
from irpath.io.model_folder import EXPORT_META, INFERENCE_FILE
from irpath.io.paths import (atomic_path, check_free_space, environment_error, remove_temporaries,
                             same_or_inside)


class ExportError(IrpathError):
    """The export destination is not usable."""


def _is_export(folder: Path) -> bool:
    """True when ``folder`` holds an irpath export: its ``irpath.json`` records a model (the
    earliest exports) or a method (a lone ``saved_model.pb`` may be anyone's)."""
    import json

    try:
        meta = json.loads((folder / EXPORT_META).read_text())
        return isinstance(meta, dict) and bool({"method", "model"} & set(meta))
    except (OSError, ValueError, TypeError):
        return False


def _check_out(out: Path, model_file: Path, overwrite: bool) -> None:
    if any(same_or_inside(f, out) for f in [model_file.parent, *model_files(model_file)]):
        raise ExportError(f"{out}: is (or holds) the model being exported; choose another --out")
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            raise ExportError(f"{out}: {parent} is a file, not a folder")
        if parent.exists():
            break
    if out.exists():
        if not _is_export(out):
            raise ExportError(f"{out}: exists and is not an irpath export; refusing to replace it "
                              "(choose a new --out)")
        if not overwrite:
            raise ExportError(f"{out}: an export is already there; pass --overwrite to replace it")


def export_model(model_path, out_dir, *, overwrite: bool = False, quiet: bool = False) -> Path:
    """Write a SavedModel of a trained model to ``out_dir``.

    The ``serve`` signature takes raw (N, H, W, C_in) float32 images (IR: cubes on
    the model's wavenumber axis; RGB: pixel values in [0, 255]), any H, W, and
    returns (N, H, W, K) maps; all preprocessing is inside. ``irpath.json`` beside
    it records the method, the config and the irpath version.

    Args:
        model_path: a run directory or a ``.keras`` model (a training model such as
            ``best.keras`` is reduced to its inference model).
        out_dir: the SavedModel directory to create.
        overwrite: replace an existing irpath export at ``out_dir``.
        quiet: no message on stderr.

    Raises:
        IrpathError subclasses: no model, a damaged model, an unusable ``out_dir``.
    """
    model_path = Path(model_path)
    model_file = model_path / INFERENCE_FILE if model_path.is_dir() else model_path
    if not model_file.exists():
        raise MissingFileError(f"{model_file}: no trained {INFERENCE_FILE} (has training finished?)")
    out = Path(out_dir)
    _check_out(out, model_file, overwrite)
    name, cfg, model = load_inference_model(model_file)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_temporaries(out.parent, recursive=False)  # of a killed export
        check_free_space(out.parent, model_file.stat().st_size, "the export")
        with atomic_path(out) as tmp:
            model.export(str(tmp), format="tf_saved_model", verbose=False)
            write_export_meta(tmp, name, cfg)
            mpp = recorded_mpp(model_file)
            if mpp is not None:
                record_mpp(tmp, mpp)
    except OSError as exc:
        raise ExportError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    except IrpathError:
        raise
    except Exception as exc:  # TensorFlow reports a full disk as its own error type
        err = environment_error(exc, out)
        if err is None:
            raise
        raise err from None
    if not quiet:
        k = model.outputs[0].shape[-1]
        print(f"exported {name} model {model_file} -> {out} (signature 'serve': (N, H, W, "
              f"{cfg.in_channels}) raw images -> (N, H, W, {k}) maps)", file=sys.stderr)
    return out

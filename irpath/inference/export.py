"""Export the segmenter as a TensorFlow SavedModel whose ``serve`` takes raw cubes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from irpath.errors import IrpathError, MissingFileError
from irpath.inference.loading import model_config, write_export_meta


def export_segmenter(model_path, out_dir, *, overwrite: bool = True) -> Path:
    """Write a SavedModel of a trained segmenter to ``out_dir``.

    The ``serve`` signature takes raw (N, H, W, C) float32 cubes on the model's
    wavenumber axis (any H, W) and returns (N, H, W, 1) activation maps;
    standardisation, background masking and padding happen inside.
    ``irpath.json`` beside it records the config (axis, threshold).

    Args:
        model_path: a run directory or a segmenter ``.keras`` file.
        out_dir: the SavedModel directory to create.
    """
    import keras

    import irpath.layers  # noqa: F401
    from irpath.train.compsegnet import CONFIG_FILE, SEGMENTER_FILE

    model_path = Path(model_path)
    model_file = model_path / SEGMENTER_FILE if model_path.is_dir() else model_path
    if not model_file.exists():
        raise MissingFileError(f"{model_file}: no trained segmenter (has training finished?)")
    cfg = model_config(model_file.parent / CONFIG_FILE)
    out = Path(out_dir)
    if out.exists():
        if not overwrite:
            raise IrpathError(f"{out}: already exists")
        shutil.rmtree(out)
    model = keras.saving.load_model(model_file, compile=False)
    model.export(str(out), format="tf_saved_model", verbose=False)
    write_export_meta(out, cfg)
    print(f"exported {model_file} -> {out} (signature 'serve': (N, H, W, {cfg.in_channels}) "
          "raw cubes -> (N, H, W, 1) maps)", file=sys.stderr)
    return out

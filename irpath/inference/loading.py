"""Load a trained segmenter from a run directory, a ``.keras`` file or a SavedModel.

Whatever the source, a :class:`Predictor` maps raw (N, H, W, C) cubes on the
model's wavenumber axis to (N, H, W) activation maps in [0, 1].
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import numpy as np

from irpath.config import CompSegNetConfig, from_dict, load_json
from irpath.errors import MissingFileError, UnsupportedFormatError

EXPORT_META = "irpath.json"


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A loaded segmenter.

    Attributes:
        predict: (N, H, W, C) float32 -> (N, H, W) float32 activation maps.
        config: the network's config (axis, threshold, depth).
        source: where it was loaded from.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    config: CompSegNetConfig
    source: str

    @property
    def axis(self) -> np.ndarray:
        return self.config.axis


def model_config(path: Path) -> CompSegNetConfig:
    """The ``model`` section of a run's config.json / an export's irpath.json; the
    paper's defaults when the file is absent (a bare .keras file)."""
    if path.exists():
        return from_dict(CompSegNetConfig, load_json(path)["model"], source=str(path))
    return CompSegNetConfig()


def _keras_predictor(model_file: Path, cfg: CompSegNetConfig) -> Predictor:
    import keras

    import irpath.layers  # noqa: F401  registers the custom layers

    model = keras.saving.load_model(model_file, compile=False)

    def predict(cubes):
        # A direct call runs eagerly: spots of every size, no retracing warnings.
        return np.asarray(model(np.asarray(cubes, np.float32), training=False))[..., 0]
    return Predictor(predict, cfg, str(model_file))


def _saved_model_predictor(folder: Path) -> Predictor:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    serve = loaded.signatures.get("serve") if hasattr(loaded, "signatures") else None
    fn = getattr(loaded, "serve", None) or serve
    if fn is None:
        raise UnsupportedFormatError(f"{folder}: SavedModel has no 'serve' signature")
    cfg = model_config(folder / EXPORT_META)

    def predict(cubes, _keep=loaded):  # _keep: the function's variables live on `loaded`
        out = fn(tf.constant(np.asarray(cubes, np.float32)))
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out)[..., 0]
    return Predictor(predict, cfg, str(folder))


def load_predictor(path) -> Predictor:
    """Load from a run directory (its ``segmenter.keras``), a ``.keras`` file, or an
    exported SavedModel directory (with ``irpath.json`` beside ``saved_model.pb``)."""
    from irpath.train.compsegnet import CONFIG_FILE, SEGMENTER_FILE

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such model file or directory")
    if path.is_file():
        if path.suffix != ".keras":
            raise UnsupportedFormatError(f"{path}: expected a run directory, a .keras file or a "
                                         "SavedModel directory")
        return _keras_predictor(path, model_config(path.parent / CONFIG_FILE))
    if (path / "saved_model.pb").exists():
        return _saved_model_predictor(path)
    if (path / SEGMENTER_FILE).exists():
        return _keras_predictor(path / SEGMENTER_FILE, model_config(path / CONFIG_FILE))
    raise MissingFileError(f"{path}: holds neither {SEGMENTER_FILE} (a finished training run) "
                           "nor saved_model.pb (an exported model)")


def write_export_meta(folder: Path, cfg: CompSegNetConfig) -> None:
    (Path(folder) / EXPORT_META).write_text(
        json.dumps({"model": dataclasses.asdict(cfg)}, indent=2) + "\n")

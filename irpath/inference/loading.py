"""Load a trained model of any method from a run directory, a ``.keras`` file or a SavedModel.

Whatever the source, a :class:`Predictor` maps prepared (N, H, W, C_in) float32
images to (N, H, W, K) maps, and knows its method and config. The method is read
from the model's ``config.json`` (run) or ``irpath.json`` (export): a model that
records none, or an unknown one, is refused; nothing falls back to a default.

Loading never imports ``irpath.train``.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from irpath.config import read_recipe
from irpath.errors import ConfigError, IrpathError, MissingFileError, UnsupportedFormatError
from irpath.io.paths import atomic_write_json

from irpath.io.model_folder import EXPORT_META, INFERENCE_FILE, RESOLUTION_FILE, RUN_CONFIG


class ModelFileError(IrpathError):
    """A model file or folder is damaged, unsafe or not an irpath model."""


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A loaded inference model.

    Attributes:
        predict: (N, H, W, C_in) float32 -> (N, H, W, K) float32 maps.
        method: the method's registry name.
        config: the method's model config.
        source: where it was loaded from.
        predict_tiles: the same function compiled for many calls on one tile shape
            (tiled prediction); None to use ``predict``.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    method: str
    config: object
    source: str
    predict_tiles: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def method_obj(self):
        from irpath.methods import get_method

        return get_method(self.method)

    @property
    def in_channels(self) -> int:
        return int(self.config.in_channels)

    @property
    def axis(self) -> np.ndarray | None:
        """(C,) wavenumbers inputs are resampled onto (IR methods), else None."""
        return self.method_obj.axis(self.config)

    @property
    def modality(self) -> str:
        return self.method_obj.modality


def load_keras_model(path, *, compile: bool = False):
    """``keras.saving.load_model`` in safe mode, with one-line errors for damaged or unsafe files."""
    import keras

    import irpath.layers  # noqa: F401  registers the custom layers
    import irpath.losses  # noqa: F401

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a .keras model (not a zip archive; truncated or not a model)")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except ValueError as exc:
        text = str(exc)
        if "Lambda" in text or "safe_mode" in text or "unsafe" in text:
            raise ModelFileError(f"{path}: refused: it contains a Lambda layer (arbitrary code); "
                                 "irpath loads .keras files in safe mode only") from None
        raise ModelFileError(f"{path}: cannot load model ({_first_line(text)})") from None
    except (KeyError, TypeError, OSError, zipfile.BadZipFile, json.JSONDecodeError, AttributeError) as exc:
        raise ModelFileError(f"{path}: damaged or not an irpath model ({type(exc).__name__}: "
                             f"{_first_line(str(exc))})") from None


def _first_line(text: str, limit: int = 200) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line[:limit]


def _recipe_near(model_file: Path, method: str | None):
    """The recipe of a .keras file: config.json beside it, or one folder up (checkpoints/)."""
    from irpath.methods import get_method

    for folder in (model_file.parent, model_file.parent.parent):
        if (folder / RUN_CONFIG).exists():
            return read_recipe(folder / RUN_CONFIG, get_method, method=method)
    raise ConfigError(f"{model_file}: no {RUN_CONFIG} beside it (or in its parent), so irpath cannot "
                      "tell its method and config; load the run directory instead")


def load_inference_model(model_file: Path, method: str | None = None):
    """``(method, model config, inference model)`` of a ``.keras`` file with its recipe beside it
    (a training model such as ``best.keras`` is reduced to its inference model).

    Raises:
        ModelFileError: the file holds a model that is not reducible to one single-input
            inference model; plus :func:`load_keras_model`'s and :func:`_recipe_near`'s errors.
    """
    from irpath.methods import get_method

    name, cfg, _ = _recipe_near(model_file, method)
    model = get_method(name).inference_model(load_keras_model(model_file))
    if len(model.inputs) != 1:
        raise ModelFileError(f"{model_file}: is a training model with {len(model.inputs)} inputs; pass "
                             f"the run directory or its {INFERENCE_FILE}")
    return name, cfg, model


def _keras_predictor(model_file: Path, method: str | None) -> Predictor:
    name, cfg, model = load_inference_model(model_file, method)

    def predict(images):
        # A direct call runs eagerly: images of every size, no retracing warnings.
        out = np.asarray(model(np.asarray(images, np.float32), training=False))
        return out if out.ndim == 4 else out[..., None]
    return Predictor(predict, name, cfg, str(model_file), predict_tiles=_compiled(model))


def _compiled(model) -> Callable:
    """``model`` as an XLA-compiled function for repeated calls on one tile shape (about
    4x the eager call on CPU, benchmarks/tiled_predict.py); falls back to a plain graph
    function when the model has ops XLA cannot compile."""
    import tensorflow as tf

    state = {"fn": tf.function(lambda x: model(x, training=False), jit_compile=True, reduce_retracing=True)}

    def predict_tiles(images):
        x = tf.constant(np.asarray(images, np.float32))
        try:
            out = state["fn"](x)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            state["fn"] = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
            out = state["fn"](x)
        out = np.asarray(out)
        return out if out.ndim == 4 else out[..., None]
    return predict_tiles


def _saved_model_predictor(folder: Path, method: str | None) -> Predictor:
    import tensorflow as tf

    from irpath.methods import get_method

    if not (folder / EXPORT_META).exists():
        raise ConfigError(f"{folder}: no {EXPORT_META} beside saved_model.pb, so irpath cannot tell its "
                          "method and config (export it with `irpath export`)")
    name, cfg, _ = read_recipe(folder / EXPORT_META, get_method, method=method)
    try:
        loaded = tf.saved_model.load(str(folder))
    except (ValueError, OSError, tf.errors.OpError) as exc:
        raise ModelFileError(f"{folder}: damaged SavedModel ({type(exc).__name__}: "
                             f"{_first_line(str(exc))})") from None
    fn = getattr(loaded, "serve", None)
    if fn is None and hasattr(loaded, "signatures"):
        fn = loaded.signatures.get("serve")
    if fn is None:
        raise UnsupportedFormatError(f"{folder}: SavedModel has no 'serve' signature")

    def predict(images, _keep=loaded):  # _keep: the function's variables live on `loaded`
        out = fn(tf.constant(np.asarray(images, np.float32)))
        if isinstance(out, dict):
            out = next(iter(out.values()))
        out = np.asarray(out)
        return out if out.ndim == 4 else out[..., None]
    return Predictor(predict, name, cfg, str(folder))


def model_meta(path) -> tuple[str, object]:
    """``(method, model config)`` of a run directory, ``.keras`` file or export, without
    loading any weights."""
    from irpath.methods import get_method

    path = Path(path)
    if path.is_file():
        name, cfg, _ = _recipe_near(path, None)
        return name, cfg
    for f in (EXPORT_META, RUN_CONFIG):
        if (path / f).exists():
            name, cfg, _ = read_recipe(path / f, get_method)
            return name, cfg
    raise MissingFileError(f"{path}: holds neither {RUN_CONFIG} (a run) nor {EXPORT_META} (an export)")


def model_files(path) -> list[Path]:
    """What loading the model at ``path`` reads: its file or folder and the recipe and
    method files beside it (outputs must never replace one); see
    :func:`irpath.io.model_folder.model_files`."""
    from irpath.io import model_folder
    from irpath.methods import get_method

    try:
        name, _ = model_meta(path)
        own = tuple(f for f in get_method(name).run_outputs if not f.endswith("/"))
    except IrpathError:  # not a model (yet): its files are what the layout names
        own = ()
    return model_folder.model_files(path, own)


def load_predictor(path, method: str | None = None) -> Predictor:
    """Load from a run directory (its ``segmenter.keras``), a ``.keras`` file (the
    inference model, or a training model such as ``best.keras`` whose inference
    model is taken out), or an exported SavedModel directory.

    Args:
        path: the model.
        method: the method the caller expects; refused if the model records another.

    Raises:
        IrpathError subclasses naming the file: missing, damaged, unsafe, no or
        unknown method, or a method other than ``method``.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such model file or directory")
    if path.is_file():
        if path.suffix != ".keras":
            raise UnsupportedFormatError(f"{path}: expected a run directory, a .keras file or a "
                                         "SavedModel directory")
        return _keras_predictor(path, method)
    if (path / "saved_model.pb").exists():
        return _saved_model_predictor(path, method)
    if (path / INFERENCE_FILE).exists():
        return _keras_predictor(path / INFERENCE_FILE, method)
    if (path / EXPORT_META).exists():
        raise ModelFileError(f"{path}: has {EXPORT_META} but no saved_model.pb (an incomplete export)")
    raise MissingFileError(f"{path}: holds neither {INFERENCE_FILE} (a finished training run) "
                           "nor saved_model.pb (an exported model)")


def write_export_meta(folder: Path, method: str, cfg) -> None:
    """``irpath.json``: the recipe sections plus ``maps``, the names of the K output channels."""
    from irpath.config import recipe_sections
    from irpath.methods import get_method

    meta = recipe_sections(method, cfg)
    meta["maps"] = list(get_method(method).output_names(cfg))
    atomic_write_json(Path(folder) / EXPORT_META, meta)


def record_mpp(run_dir, mpp: float) -> None:
    """Record the training images' µm/px in ``run_dir/resolution.json`` (atomically)."""
    atomic_write_json(Path(run_dir) / RESOLUTION_FILE, {"mpp": float(mpp)})


def recorded_mpp(model_path) -> float | None:
    """The µm/px a model was trained at (``resolution.json`` of its run or export), or None."""
    path = Path(model_path)
    if not path.exists():
        return None
    folders = [path] if path.is_dir() else [path.parent, path.parent.parent]
    for folder in folders:
        f = folder / RESOLUTION_FILE
        if f.is_file():
            try:
                mpp = float(json.loads(f.read_text())["mpp"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ModelFileError(f"{f}: not a resolution record ({exc})") from None
            return mpp if mpp > 0 else None
    return None

"""What a method declares to the core, like a task in tensorflow/models' ``tasks/``.

The core owns the run directory, the strategy, phases, fit, resume, preemption,
export (:func:`irpath.train.run`), loading, tiled prediction and the CLI. A method
subclasses :class:`Method` and declares what is its own:

* its two frozen config classes (``model`` and ``train`` sections of config.json);
* ``build_model(ctx)``: the compiled training model; ``datasets(ctx)``: its data;
* optionally its data flags and reading (``add_train_arguments``, ``data_from_args``,
  ``load_data``, ``fingerprint_inputs``), its phases, ``steps_per_epoch``,
  ``learning_rate``, ``prepare_run`` and ``after_fit``;
* ``inference_model``: the (N, H, W, C_in) -> (N, H, W, K) model taken out of
  the trained model (what is saved as ``segmenter.keras`` and exported);
* ``postprocess``: maps (H, W, K) -> the method's results (arrays + numbers);
* ``evaluate``: a report dict from a predictor, labelled data and typed options.

Everything else has a default that follows the method's ``modality``. A method
never calls ``fit`` or ``finish`` itself. The shared train flags ``--epochs``,
``--batch-size``, ``--lr`` and ``--seed`` are the core's: they set the train
config's fields of those names, with the config's defaults and :attr:`Method.flag_help`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

MODALITIES = ("ir", "rgb")

#: Colours of the default GeoJSON classes 1.. (QuPath ``classification.color``).
_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180))


#: The train flags every method has (``irpath train METHOD --epochs ...``): config field -> flag.
SHARED_TRAIN_FLAGS = {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "seed": "--seed"}


def shared_train_fields(train_config_class) -> tuple[str, ...]:
    """The shared train flags' fields a train config has."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(train_config_class)}
    return tuple(f for f in SHARED_TRAIN_FLAGS if f in names)


@dataclasses.dataclass(frozen=True)
class EvaluateOptions:
    """What ``irpath evaluate`` passes every method; a method's own options subclass it.

    Attributes:
        data: the labelled data (``--data``).
        tile_limit: also tile every image with more pixels (None: memory decides).
        memory_limit: bytes a whole-image pass may use (None: a quarter of the available memory).
        geojson: also write the predictions as QuPath GeoJSON (``geojson/<name>.geojson``).
        simplify: their polygon simplification tolerance in map pixels (None: 0.5).
        mpp: read the images at this µm/px (``--mpp``; None: the run's recorded µm/px for
            slides and pyramids), see :mod:`irpath.inference.resolution`.
    """

    data: str | None = None
    tile_limit: int | None = None
    memory_limit: int | None = None
    geojson: bool = False
    simplify: float | None = None
    mpp: float | None = None

    @classmethod
    def from_values(cls, values: dict):
        """The options from ``values`` (e.g. parsed flags): fields of this class given and
        not None; the others keep their defaults."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)
                      if values.get(f.name) is not None})


class Method:
    """Base class of a method. Subclasses set the class attributes and override hooks.

    Attributes:
        name: the registry name (``irpath train NAME``).
        modality: "ir" (spectral cubes resampled onto the model's axis) or "rgb".
        summary: one line for ``irpath train --help``.
        description: the text of ``irpath train NAME --help``.
        config_class: frozen dataclass of the network (needs ``in_channels``;
            IR methods also an ``axis`` property).
        train_config_class: frozen dataclass of the optimisation (needs
            ``epochs`` and ``seed``).
        map_names: names of the K output maps, in channel order.
        result_arrays: the ``arrays`` suffixes :meth:`postprocess` may return (predict
            writes ``<name>_<suffix>.npy``), so the outputs are known before any work.
        evaluate_outputs: what :meth:`evaluate` writes in its folder (``/``: a folder).
        run_outputs: the method's own files in a run directory, beside the core's.
    """

    name: str = ""
    modality: str = "ir"
    summary: str = ""
    description: str = ""
    config_class: type = None
    train_config_class: type = None
    map_names: tuple[str, ...] = ("map",)
    result_arrays: tuple[str, ...] = ()
    evaluate_outputs: tuple[str, ...] = ("report.json",)
    run_outputs: tuple[str, ...] = ()

    # -- command line ------------------------------------------------------------------
    #: Help of the shared train flags (``epochs``, ``batch_size``, ``lr``, ``seed``), e.g.
    #: ``{"lr": "RMSprop learning rate"}``; the default value is appended.
    flag_help: dict = {}

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the method's data and recipe flags (the core adds --out, --config, the shared
        train flags and the runtime flags). Default: ``--train`` and ``--val``, a manifest
        or folder each."""
        parser.add_argument("--train", required=True, metavar="DATA", help="training data")
        parser.add_argument("--val", required=True, metavar="DATA",
                            help="validation data (selects the best epoch)")

    #: Config fields set by the ``train`` flag of the same dest name (model / train section);
    #: the shared train flags are added to :attr:`train_flags` by the core.
    model_flags: tuple[str, ...] = ()
    train_flags: tuple[str, ...] = ()
    #: Boolean config fields set by a negative flag: ``{field: dest}``, e.g. ``{"augment": "no_augment"}``.
    negated_flags: dict = {}

    def configs_from_args(self, args) -> tuple:
        """``(model_cfg, train_cfg)`` from parsed ``train`` arguments: the recipe file's
        configs (``--config``) or the defaults, with the fields named in
        :attr:`model_flags`, :attr:`train_flags`, :data:`SHARED_TRAIN_FLAGS` and
        :attr:`negated_flags` taken from the flags."""
        import dataclasses

        base_m = getattr(args, "base_model_config", None) or self.config_class()
        base_t = getattr(args, "base_train_config", None) or self.train_config_class()
        train_names = tuple(self.train_flags) + tuple(
            f for f in shared_train_fields(self.train_config_class) if f not in self.train_flags)
        return (dataclasses.replace(base_m, **self._from_flags(args, self.model_flags, base_m)),
                dataclasses.replace(base_t, **self._from_flags(args, train_names, base_t)))

    def _from_flags(self, args, names, cfg) -> dict:
        import dataclasses

        fields = {f.name for f in dataclasses.fields(cfg)}
        out = {k: getattr(args, k) for k in names if hasattr(args, k)}
        out.update({f: not getattr(args, dest) for f, dest in self.negated_flags.items() if f in fields})
        return out

    def args_from_configs(self, model_cfg, train_cfg) -> dict:
        """Parser defaults (dest -> value) that reproduce a recipe file (``--config``):
        config fields map to flags of the same dest name, negated ones to their ``no_`` flag."""
        import dataclasses

        out = {}
        for cfg in (model_cfg, train_cfg):
            if cfg is not None:
                out.update(dataclasses.asdict(cfg))
        for field, dest in self.negated_flags.items():
            if field in out:
                out[dest] = not out.pop(field)
        return out

    def data_from_args(self, args) -> dict:
        """The data of a training run (``{name: path}``, e.g. manifests) from parsed flags."""
        return {"train": args.train, "val": args.val}

    #: What ``irpath evaluate`` measures for this method (its group in ``--help``).
    evaluate_help: str = ""
    #: The typed options of ``irpath evaluate`` (a subclass of :class:`EvaluateOptions`).
    evaluate_options: type = EvaluateOptions

    def add_evaluate_arguments(self, group) -> None:
        """Add ``evaluate`` flags. They are shared with other methods' flags of the same
        name, so give them ``default=None``; defaults live in :attr:`evaluate_options`."""

    # -- training: what the driver (:func:`irpath.train.run`) asks for -------------------
    #: Modules to import before a checkpoint is loaded (they register the Keras objects,
    #: e.g. an optimizer, that the method's training models hold).
    saved_objects: tuple[str, ...] = ()

    def load_data(self, data: dict, model_cfg, train_cfg, run):
        """Read and check the training data before any training work (``run``: the run
        directory, not created yet). Returns what :meth:`datasets` and friends find as
        ``ctx.data``; default ``data`` itself."""
        return data

    def fingerprint_inputs(self, data: dict, model_cfg, train_cfg) -> dict:
        """``{name: (paths, extra)}`` of :func:`irpath.io.fingerprint.fingerprint`: what the
        run's data fingerprints (``config.json`` ``data``) are taken of; a resume on other
        data is refused. Default: each entry of ``data``, with no extra."""
        return {k: (v, None) for k, v in data.items()}

    def phases(self, model_cfg, train_cfg, run) -> tuple:
        """The training phases, in order (:class:`irpath.train.Phase`); default one phase in
        the run directory itself. ``run`` is the run directory (it may hold an earlier run)."""
        from irpath.train.driver import Phase

        return (Phase(model_cfg=model_cfg, train_cfg=train_cfg),)

    def prepare_run(self, ctx):
        """Work after the phase's recipe is locked and before the model is built (e.g. data
        caches in the run directory); the result is ``ctx.prepared``. Default None."""
        return None

    def steps_per_epoch(self, ctx) -> int | None:
        """Batches per epoch when :meth:`datasets` returns an endless stream; default None
        (the training dataset is finite)."""
        return None

    def learning_rate(self, ctx):
        """The optimiser's learning rate (a float or a Keras schedule), also set again on
        resume; default the train config's ``lr``."""
        return getattr(ctx.train_cfg, "lr", None)

    def build_model(self, ctx):
        """A fresh compiled training model for ``ctx`` (called in the strategy scope)."""
        raise NotImplementedError

    def datasets(self, ctx) -> tuple:
        """``(train_ds, val_ds or None)`` for ``ctx.global_batch``. An endless training stream
        starts at ``ctx.start_epoch`` and makes epoch ``e`` a function of ``(seed, e)``."""
        raise NotImplementedError

    def after_fit(self, ctx) -> None:
        """Work on the finished phase before the inference model is saved (chief only),
        e.g. calibrating a threshold on the validation data. Default nothing."""

    def inference_model(self, model):
        """The (N, H, W, C_in) -> (N, H, W, K) model inside a trained ``model``; a model
        that already is the inference model is returned as it is."""
        return model

    # -- inference ---------------------------------------------------------------------
    def output_names(self, cfg) -> tuple[str, ...]:
        """Names of the K output channels of the inference model built from ``cfg``
        (recorded as ``maps`` in an export's ``irpath.json``); default :attr:`map_names`."""
        return tuple(self.map_names)

    def tile_align(self, cfg) -> int:
        """Tiles start on multiples of this (a U-Net's 2**depth, so tiles see the whole
        image's pooling grid)."""
        return 1

    def axis(self, cfg) -> np.ndarray | None:
        """(C,) wavenumbers inputs are resampled onto (IR), or None (RGB)."""
        return np.asarray(cfg.axis) if self.modality == "ir" else None

    def prepare(self, path, cfg, *, tissue_file=None, lazy: bool = False):
        """Read one image as the model sees it: see :func:`irpath.data.prepare.prepare_image`."""
        from irpath.data.prepare import prepare_image

        return prepare_image(path, self.modality, axis=self.axis(cfg), in_channels=cfg.in_channels,
                             tissue_file=tissue_file, lazy=lazy, stain=self.stain(cfg))

    def stain(self, cfg) -> str | None:
        """The stain normalisation inputs get before the model (RGB), or None."""
        return None

    def threshold(self, cfg, threshold: float | None = None) -> float | None:
        """The threshold postprocessing uses: ``threshold`` (checked to lie in (0, 1)) or
        the config's own (:meth:`default_threshold`)."""
        if threshold is None:
            return self.default_threshold(cfg)
        import math

        from irpath.errors import ConfigError

        if not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
            raise ConfigError(f"threshold must be a number in (0, 1), got {threshold}")
        return float(threshold)

    def default_threshold(self, cfg) -> float | None:
        """The threshold postprocessing uses when none is given; default None."""
        return None

    def postprocess(self, maps: np.ndarray, prepared, cfg, *, threshold: float | None = None) -> dict:
        """Turn (H, W, K) maps into results.

        Returns:
            ``{"arrays": {suffix: array}, "summary": {name: number}}``. Each array is
            written as ``<stem>_<suffix>.npy``; integer instance maps use a suffix
            containing ``inst``. ``summary`` goes into predictions.json.
        """
        return {"arrays": {}, "summary": {}}

    def geojson_features(self, result: dict, maps: np.ndarray, prepared, cfg, *, mpp: float | None = None,
                         simplify: float | None = None, threshold: float | None = None) -> dict:
        """The results of one image as a QuPath ``FeatureCollection`` (``predict --geojson``).

        Args:
            result: what :meth:`postprocess` returned for ``maps``.
            maps: (H, W, K) maps (memory-mapped on slides: read a tile at a time).
            prepared: the prepared image (its ``downsample`` scales coordinates to level-0
                pixels; its ``mpp`` gives areas in µm²).
            mpp: µm per map pixel when the image does not know it (None: areas in pixels).
            simplify: polygon simplification tolerance in map pixels (None: the default, 0.5).
            threshold: the threshold of :meth:`postprocess`.

        Default: one-map methods, the regions of map >= threshold (0.5) as annotations;
        others, one MultiPolygon annotation per class 1.. of the maps' argmax (class 0 is
        taken as the background).
        """
        from irpath.inference.geojson_export import (ObjectKind, class_probability, geojson_options,
                                                     map_features)
        from irpath.io.geojson import feature_collection

        names = self.output_names(cfg)
        geo = geojson_options(prepared, mpp)
        if maps.shape[-1] == 1:
            thr = 0.5 if threshold is None else threshold
            keys = lambda y0, y1, x0, x1: (np.asarray(maps[y0:y1, x0:x1, 0]) >= thr).astype(np.int32)  # noqa: E731
            return feature_collection(map_features(
                keys, class_probability(maps, [0, 0]), {1: ObjectKind(names[0], (230, 25, 75), split=True)},
                shape=maps.shape[:2], simplify=simplify, **geo))
        keys = lambda y0, y1, x0, x1: np.argmax(np.asarray(maps[y0:y1, x0:x1]), axis=-1)  # noqa: E731
        kinds = {k: ObjectKind(names[k], _COLOURS[(k - 1) % len(_COLOURS)]) for k in range(1, len(names))}
        return feature_collection(map_features(keys, class_probability(maps, np.arange(len(names))), kinds,
                                               shape=maps.shape[:2], simplify=simplify, **geo))

    def plot_prediction(self, prepared, maps: np.ndarray, result: dict, path: Path, *,
                        title: str = "", threshold: float | None = None) -> None:
        """A PNG of the input beside the maps (default: the first map over the image)."""
        from irpath.viz.plots import plot_overlay

        thr = 0.5 if threshold is None else threshold
        plot_overlay(prepared.display, maps[..., 0], thr, None, path, title=title)

    def evaluate(self, predictor, options, out_dir) -> dict:
        """Evaluate on labelled data named in ``options`` (an :attr:`evaluate_options`);
        write ``out_dir/report.json``. Default: pixel accuracy and Dice of the maps against
        the label images of an ``image,label`` manifest (``--data``), see
        :func:`irpath.inference.pixel_evaluation.evaluate_pixels`."""
        from irpath.inference.pixel_evaluation import evaluate_pixels

        return evaluate_pixels(predictor, options.data, out_dir, tile_limit=options.tile_limit,
                               memory_limit=options.memory_limit, mpp=options.mpp)

    def brief(self, report: dict) -> dict:
        """The headline numbers ``irpath evaluate`` prints as one JSON line."""
        return {k: v for k, v in report.items() if isinstance(v, (int, float, str)) or v is None}


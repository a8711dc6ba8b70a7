"""What a method supplies to the core, like a task in tensorflow/models' ``tasks/``.

The core owns the run directory, checkpoints and resume, export, loading, tiled
prediction and the CLI. A method subclasses :class:`Method` and fills in:

* its two frozen config classes (``model`` and ``train`` sections of config.json);
* its command-line flags (``add_train_arguments``, ``configs_from_args``,
  ``data_from_args``, optionally ``add_evaluate_arguments``);
* ``train``: data, model, loss and optimiser, handed to
  :func:`irpath.train.run_dir.fit` and :func:`irpath.train.run_dir.finish`;
* ``inference_model``: the (N, H, W, C_in) -> (N, H, W, K) model taken out of
  the trained model (what is saved as ``segmenter.keras`` and exported);
* ``postprocess``: maps (H, W, K) -> the method's results (arrays + numbers);
* ``evaluate``: a report dict from a predictor and labelled data.

Everything else has a default that follows the method's ``modality``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MODALITIES = ("ir", "rgb")


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
    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the method's data and recipe flags (the core adds --out and --config)."""
        raise NotImplementedError

    #: Config fields set by the ``train`` flag of the same dest name (model / train section).
    model_flags: tuple[str, ...] = ()
    train_flags: tuple[str, ...] = ()
    #: Boolean config fields set by a negative flag: ``{field: dest}``, e.g. ``{"augment": "no_augment"}``.
    negated_flags: dict = {}

    def configs_from_args(self, args) -> tuple:
        """``(model_cfg, train_cfg)`` from parsed ``train`` arguments: the recipe file's
        configs (``--config``) or the defaults, with the fields named in
        :attr:`model_flags`, :attr:`train_flags` and :attr:`negated_flags` taken from the flags."""
        import dataclasses

        base_m = getattr(args, "base_model_config", None) or self.config_class()
        base_t = getattr(args, "base_train_config", None) or self.train_config_class()
        return (dataclasses.replace(base_m, **self._from_flags(args, self.model_flags, base_m)),
                dataclasses.replace(base_t, **self._from_flags(args, self.train_flags, base_t)))

    def _from_flags(self, args, names, cfg) -> dict:
        import dataclasses

        fields = {f.name for f in dataclasses.fields(cfg)}
        out = {k: getattr(args, k) for k in names}
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
        """The data arguments of :meth:`train` (e.g. manifest paths) from parsed flags."""
        raise NotImplementedError

    def add_evaluate_arguments(self, group) -> None:
        """Add ``evaluate`` flags. They are shared with other methods' flags of the same
        name, so give them ``default=None`` and apply defaults in :meth:`evaluate`."""

    # -- training ----------------------------------------------------------------------
    def train(self, data: dict, out_dir, model_cfg, train_cfg, *, strategy=None,
              verbose: int | None = None) -> dict:
        """Train into run directory ``out_dir`` (resuming if it holds a run); returns
        the summary from :func:`irpath.train.run_dir.finish`."""
        raise NotImplementedError

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
                             tissue_file=tissue_file, lazy=lazy, stain=getattr(cfg, "stain", None))

    def threshold(self, cfg, threshold: float | None = None) -> float | None:
        """The threshold postprocessing uses: ``threshold`` (checked to lie in (0, 1)) or
        the config's own."""
        if threshold is None:
            return getattr(cfg, "threshold", None)
        import math

        from irpath.errors import ConfigError

        if not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
            raise ConfigError(f"threshold must be a number in (0, 1), got {threshold}")
        return float(threshold)

    def postprocess(self, maps: np.ndarray, prepared, cfg, *, threshold: float | None = None) -> dict:
        """Turn (H, W, K) maps into results.

        Returns:
            ``{"arrays": {suffix: array}, "summary": {name: number}}``. Each array is
            written as ``<stem>_<suffix>.npy``; integer instance maps use a suffix
            containing ``inst``. ``summary`` goes into predictions.json.
        """
        return {"arrays": {}, "summary": {}}

    def plot_prediction(self, prepared, maps: np.ndarray, result: dict, path: Path, *,
                        title: str = "", threshold: float | None = None) -> None:
        """A PNG of the input beside the maps (default: the first map over the image)."""
        from irpath.viz.plots import plot_overlay

        thr = 0.5 if threshold is None else threshold
        plot_overlay(prepared.display, maps[..., 0], thr, None, path, title=title)

    def evaluate(self, predictor, args, out_dir) -> dict:
        """Evaluate on labelled data named in ``args``; write ``out_dir/report.json``."""
        raise NotImplementedError

    def brief(self, report: dict) -> dict:
        """The headline numbers ``irpath evaluate`` prints as one JSON line."""
        return {k: v for k, v in report.items() if isinstance(v, (int, float, str)) or v is None}

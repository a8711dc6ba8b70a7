"""Train a learned Mie corrector on spectra corrected by converged ME-EMSC, and apply it.

The recipe (``irpath correct --method learned``): sample tissue spectra stratified
over the cubes (:func:`irpath.spectra.correct_cube.sample_tissue`), correct them with
converged ME-EMSC, hold out a fraction, leave out the targets ME-EMSC did not determine
(:func:`outlier_rows`), fit :func:`irpath.models.descatter.build_descatter` (Adam, MSE
on the standardised target, best validation epoch kept), and report the held-out
errors against ME-EMSC:

``rel_rmse``
    ||pred - target|| / ||target|| over the held-out spectra the outlier rule keeps, all
    channels (Frobenius norms; ``target`` = the ME-EMSC-corrected spectra): the relative
    RMSE. ``held_out_errors_all`` is the same over every finite held-out target,
    outliers included.
``rel_rmse_of_correction``
    ||pred - target|| / ||target - raw||: the part of the correction missed.
``range_rmse``
    the mean over held-out spectra of RMSE(pred - target) / range(target).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from irpath.errors import ConfigError

#: The definitions written into ``correction.json``.
DEFINITIONS = {
    "rel_rmse": ("||pred - target||_F / ||target||_F over held-out spectra (target = converged ME-EMSC): "
                 "in held_out_errors those the outlier rule keeps, in held_out_errors_all every finite one"),
    "rel_rmse_of_correction": "||pred - target||_F / ||target - raw||_F (share of the correction missed)",
    "range_rmse": "mean over held-out spectra of RMSE(pred - target) / (max - min of target)",
}


#: A target whose ME-EMSC scale is below this fraction of the median positive scale is an
#: outlier (:func:`outlier_rows`): its residual, noise included, is amplified more than
#: 1 / SCALE_FLOOR times the typical target's.
SCALE_FLOOR = 0.5


@dataclasses.dataclass(frozen=True)
class DescatterConfig:
    """How the learned corrector is trained.

    Attributes:
        samples: tissue spectra sampled (stratified over cubes) and ME-EMSC-corrected.
        holdout: fraction held out for the reported error (and the best-epoch choice).
        epochs: training epochs at most.
        batch_size: spectra per step.
        lr: Adam learning rate.
        patience: epochs without a better validation loss before stopping.
        seed: sampling, split and initialisation seed.
        outlier: targets whose norm or range ratio to the raw spectrum (log) is more
            than this many scaled MADs from the median (:func:`outlier_rows`) are left
            out of training and of the held-out error.
    """

    samples: int = 5000
    holdout: float = 0.2
    epochs: int = 150
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 25
    seed: int = 0
    outlier: float = 3.0

    def __post_init__(self):
        if self.samples < 10 or not 0 < self.holdout < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"descatter: samples >= 10, 0 < holdout < 1, epochs >= 1 and "
                              f"batch_size >= 1 required, got {self}")


def errors(pred: np.ndarray, target: np.ndarray, raw: np.ndarray) -> dict:
    """The three held-out errors of :data:`DEFINITIONS` for (N, C) arrays."""
    pred, target, raw = (np.asarray(a, np.float64) for a in (pred, target, raw))
    diff = pred - target
    rmse = np.sqrt(np.mean(diff ** 2, axis=1))
    return dict(rel_rmse=float(np.linalg.norm(diff) / np.linalg.norm(target)),
                rel_rmse_of_correction=float(np.linalg.norm(diff) / np.linalg.norm(target - raw)),
                range_rmse=float(np.mean(rmse / np.maximum(np.ptp(target, axis=1), 1e-30))))


def outlier_rows(raw: np.ndarray, target: np.ndarray, mads: float = 3.0,
                 scale: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: finite rows whose target is out of line with its raw spectrum.

    Two robust scores per row, ``log(||target|| / ||raw||)`` and ``log(range(target) /
    range(raw))``; a row is an outlier when either lies more than ``mads`` scaled MADs
    (1.4826 x the median absolute deviation, the sd of a normal sample) from its median
    over the finite rows. (The earlier rule, the norm ratio alone more than 2x off the
    median, kept blown-up targets: on the hard phantom the 10 % of targets farthest from
    their mean then carried 99.6 % of their variance, 57 % after this rule.)

    With ``scale``, ME-EMSC's fitted reference coefficient per row
    (:attr:`irpath.spectra.me_emsc.MeEmscResult.scale`; the target is ``ref + residual
    / scale``), a row is also an outlier when its scale is not positive (the fit gave
    the reference no or a negative weight: the residual, noise included, is flipped)
    or below :data:`SCALE_FLOOR` times the median scale of the rows of positive scale
    (the residual is blown up). The norm and range scores do not see these (the
    reference term dominates both), and ME-EMSC does not determine their targets: on
    the hard phantom's scatter (``benchmarks/mie_phantom.py``, study reference) 21 % of
    the scales were negative, a perturbation of 1e-4 absorbance (1/250 of the noise)
    changed ME-EMSC's output by 2.4 % (Frobenius) on those rows and by 0.9 % on rows of
    scale 0-0.7, against 0.04-0.06 % on the rest, and 1 % of held-out targets (scale
    below 0.3) carried 58 % of the learned corrector's squared error once the negative
    ones were left out.
    """
    raw = np.asarray(raw, np.float64)
    target = np.asarray(target, np.float64)
    finite = np.isfinite(target).all(axis=1) & np.isfinite(raw).all(axis=1)
    out = np.zeros(len(raw), bool)

    def far(score):
        score = np.log(np.maximum(score, 1e-30))
        dev = np.abs(score - np.median(score))
        return dev > mads * max(1.4826 * float(np.median(dev)), 1e-12)

    if finite.any():
        r, t = raw[finite], target[finite]
        out[finite] = (far(np.linalg.norm(t, axis=1) / np.maximum(np.linalg.norm(r, axis=1), 1e-12))
                       | far(np.ptp(t, axis=1) / np.maximum(np.ptp(r, axis=1), 1e-12)))
    if scale is not None:
        scale = np.asarray(scale, np.float64)
        positive = finite & (scale > 0)  # NaN counts as not positive
        out |= finite & ~positive
        if positive.any():
            out[positive] |= scale[positive] < SCALE_FLOOR * np.median(scale[positive])
    return out


def fit_descatter(raw: np.ndarray, target: np.ndarray, config: DescatterConfig = DescatterConfig(),
                  *, scale: np.ndarray | None = None, verbose: int = 0):
    """Fit the corrector on (N, C) raw spectra and their (N, C) corrected targets.

    Rows with non-finite targets (failed ME-EMSC solves) are dropped first; the rest
    are split into training and held-out rows; outliers (:func:`outlier_rows`, with
    ``scale``, ME-EMSC's (N,) fitted reference coefficients, when given: ME-EMSC's
    division by a near-zero or negative scale parameter blows some spectra up or flips
    them; they would dominate the loss and every norm) are left out of both. The
    counts are in the report; ``held_out_errors`` are over the held-out rows kept,
    ``held_out_errors_all`` over every finite held-out row, outliers included.

    Returns:
        ``(model, report)``: the keras corrector and ``{"held_out": errors,
        "train": errors, "epochs", "train_seconds", "definitions", ...}``.
    """
    import keras

    from irpath.models.descatter import build_descatter

    raw = np.asarray(raw, np.float32)
    target = np.asarray(target, np.float32)
    finite = np.isfinite(target).all(axis=1) & np.isfinite(raw).all(axis=1)
    n_failed = int((~finite).sum())
    outlier = outlier_rows(raw, target, config.outlier, scale)[finite]
    raw, target = raw[finite], target[finite]
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(raw))
    n_val = max(1, int(round(config.holdout * len(raw))))
    val_all = order[:n_val]
    val, tr = val_all[~outlier[val_all]], order[n_val:][~outlier[order[n_val:]]]
    if len(val) == 0 or len(tr) == 0:
        raise ConfigError(f"descatter: {int(outlier.sum())} of {len(raw)} ME-EMSC targets are "
                          f"outliers; too few left to train and hold out")
    z = raw - raw.mean(axis=1, keepdims=True)  # what the model's self-standardisation sees
    z /= np.sqrt(np.mean(z ** 2, axis=1, keepdims=True) + 1e-12)
    t_mean = target[tr].mean(0)
    t_sd = float(np.std(target[tr] - t_mean)) + 1e-12
    y = (target - t_mean) / t_sd
    # The pass-through gain's start: the median least-squares slope of the standardised
    # target on the self-standardised input.
    yc = y[tr] - y[tr].mean(axis=1, keepdims=True)
    gain = float(np.median(np.sum(z[tr] * yc, axis=1) / np.sum(z[tr] ** 2, axis=1)))
    stats = dict(z_mean=z[tr].mean(0), z_var=z[tr].var(0) + 1e-12, t_mean=t_mean,
                 t_var=np.full(raw.shape[1], t_sd ** 2, np.float32), gain=gain)
    keras.utils.set_random_seed(config.seed)
    model, trainer = build_descatter(raw.shape[1], stats)
    trainer.compile(keras.optimizers.Adam(config.lr), loss="mse")
    t = time.perf_counter()
    hist = trainer.fit(raw[tr], y[tr], validation_data=(raw[val], y[val]), epochs=config.epochs,
                       batch_size=config.batch_size, verbose=verbose, shuffle=True,
                       callbacks=[keras.callbacks.EarlyStopping(patience=config.patience,
                                                                restore_best_weights=True),
                                  keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=8)])
    seconds = time.perf_counter() - t
    report = dict(samples=int(len(tr) + len(val)), dropped_failed=n_failed,
                  dropped_outliers=int(outlier.sum()),
                  outlier_rule=((f"ME-EMSC scale <= 0 or < {SCALE_FLOOR:g} x the median positive scale, or "
                                 if scale is not None else "")
                                + f"|log(||target||/||raw||) - median| or |log(range(target)/"
                                f"range(raw)) - median| > {config.outlier} x 1.4826 MAD"),
                  held_out=int(len(val)), held_out_outliers=int(n_val - len(val)),
                  epochs=len(hist.history["loss"]), train_seconds=round(seconds, 1),
                  held_out_errors=errors(apply(model, raw[val]), target[val], raw[val]),
                  held_out_errors_all=errors(apply(model, raw[val_all]), target[val_all], raw[val_all]),
                  train_errors=errors(apply(model, raw[tr]), target[tr], raw[tr]),
                  definitions=DEFINITIONS, config=dataclasses.asdict(config))
    return model, report


def apply(model, spectra: np.ndarray, batch: int = 8192) -> np.ndarray:
    """(N, C) float32 corrected spectra from a corrector model, in batches."""
    spectra = np.asarray(spectra, np.float32)
    if len(spectra) == 0:
        return spectra
    return np.concatenate([np.asarray(model(spectra[i:i + batch], training=False))
                           for i in range(0, len(spectra), batch)])


class LearnedCorrector:
    """A trained corrector as a callable on (N, C) spectra, for ``correct_cube_file``.

    Args:
        model: the keras corrector (:func:`fit_descatter` or ``keras.saving.load_model``).
        source: where it came from, for the report.
    """

    method = "learned"
    chunk = 4096

    def __init__(self, model, source: str):
        import tensorflow as tf

        self.model = model
        self.reference_source = source
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def __call__(self, spectra):
        spectra = np.asarray(spectra, np.float32)
        if len(spectra) == 0:
            return spectra
        # Chunks bound the activations (a 16384-spectrum block at once took ~1 GB more RSS;
        # 4096 applied fastest here). A short last chunk is zero-padded to the next power
        # of two: a handful of input shapes, not one per block (each new shape costs
        # TensorFlow/oneDNN memory that is not given back).
        out = np.empty_like(spectra)
        for i in range(0, len(spectra), self.chunk):
            part = spectra[i:i + self.chunk]
            n = len(part)
            size = min(self.chunk, 1 << max(8, (n - 1).bit_length()))
            if size != n:
                part = np.concatenate([part, np.zeros((size - n, part.shape[1]), np.float32)])
            out[i:i + n] = np.asarray(self._fn(part))[:n]
        out[~np.isfinite(spectra).all(axis=1)] = np.nan
        return out


def train_corrector(cubes, config: DescatterConfig = DescatterConfig(), *, reference=None,
                    iterations: int = 30, n_components=None, progress: bool = True):
    """Sample tissue spectra over ``cubes``, correct them with converged ME-EMSC, fit.

    Args:
        cubes: :class:`irpath.io.Cube` objects of one study, on one wavenumber axis.
        config: a :class:`DescatterConfig`.
        reference: (C,) ME-EMSC reference; default the mean of the sampled spectra.
        iterations, n_components: the ME-EMSC settings of the targets.
        progress: print one line per stage.

    Returns:
        ``(model, report)`` as :func:`fit_descatter`, the report extended with the
        ME-EMSC time, rate and iterations of the targets.
    """
    from irpath.spectra.correct_cube import sample_tissue
    from irpath.spectra.emsc import CorrectionConfig, Corrector

    rng = np.random.default_rng(config.seed)
    raw = np.concatenate(sample_tissue(cubes, config.samples, rng))
    source = "given" if reference is not None else "mean of the sampled tissue spectra"
    if reference is None:
        reference = raw.mean(0)
    if progress:
        print(f"learned: correcting {len(raw)} sampled tissue spectra with converged ME-EMSC",
              flush=True)
    me = Corrector(reference, cubes[0].wavenumbers,
                   CorrectionConfig("me-emsc", iterations=iterations, n_components=n_components))
    t = time.perf_counter()
    target, scale = me.correct(raw)
    seconds = time.perf_counter() - t
    if progress:
        print(f"learned: ME-EMSC {len(raw) / seconds:.0f} spectra/s; training", flush=True)
    model, report = fit_descatter(raw, target, config, scale=scale)
    st = me.stats
    report.update(me_emsc_seconds=round(seconds, 1), me_emsc_spectra_per_s=round(len(raw) / seconds, 1),
                  me_emsc_iterations_mean=round(st["iterations_sum"] / max(1, st["spectra"]), 3),
                  me_emsc_iterations_max=st["iterations_max"], me_emsc_failed=st["failed"],
                  reference=source, n_mie_components=me.n_mie_components)
    if progress:
        e = report["held_out_errors"]
        print(f"learned: {report['epochs']} epochs in {report['train_seconds']} s; held-out "
              f"rel RMSE {100 * e['rel_rmse']:.2f} % (of the correction "
              f"{100 * e['rel_rmse_of_correction']:.1f} %) on {report['held_out']} targets; "
              f"{report['dropped_outliers']} of {len(raw)} ME-EMSC targets left out as outliers",
              flush=True)
    return model, report


def save_corrector(model, path) -> None:
    """Save ``model`` to ``path`` (.keras) whole or not at all (temporary file + rename)."""
    import os
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(path.stem + ".partial.keras")
    model.save(tmp)
    os.replace(tmp, path)


def load_corrector(path):
    """A :class:`LearnedCorrector` from a ``.keras`` file, with one-line errors."""
    from pathlib import Path

    import keras

    from irpath.errors import DataFileError, MissingFileError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such corrector file")
    try:
        model = keras.saving.load_model(path)
    except Exception as exc:  # keras raises many types for a malformed archive
        raise DataFileError(f"{path}: not a readable .keras corrector ({type(exc).__name__})") from None
    return LearnedCorrector(model, f"corrector {path}")

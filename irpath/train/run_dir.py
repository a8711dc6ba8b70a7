"""The method-agnostic run directory: layout, recipe lock, fit with resume, finishing.

RUN_DIR/
  config.json        method, irpath version, model + train config, data fingerprint
  stats.npz          input statistics, when the method needs them
  cache/             the method's data caches
  checkpoints/       last.keras (model + optimizer) and state.json, every epoch
  best.keras         the training model with the lowest monitored loss
  segmenter.keras    the inference model taken out of best.keras: what evaluate,
                     predict and export use; (N, H, W, C_in) -> (N, H, W, K)
  saved_model/       the same model as a SavedModel (``serve`` takes raw images)
  history.csv/.png   per-epoch losses
  logs/              TensorBoard
  train_summary.json what the last session did

A method's trainer is recipe glue: it calls :meth:`RunDirectory.start`, builds
its data, then :func:`fit` with a model builder, then :func:`finish`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Callable

from irpath.config import load_json, recipe_sections, save_json
from irpath.errors import ConfigError, TrainingDivergedError, TrainingPreempted

CONFIG_FILE = "config.json"
STATS_FILE = "stats.npz"
BEST_FILE = "best.keras"
INFERENCE_FILE = "segmenter.keras"
SAVED_MODEL_DIR = "saved_model"
HISTORY_FILE = "history.csv"
#: Train-config keys a resumed run may change: train longer, or lower the rate after a divergence.
RESUMABLE_KEYS = ("epochs", "lr")
#: What training writes in a run directory (``/``: a folder), checked before any work.
RUN_OUTPUTS = (CONFIG_FILE, STATS_FILE, "cache/", "checkpoints/", BEST_FILE, INFERENCE_FILE,
               SAVED_MODEL_DIR + "/", HISTORY_FILE, "history.png", "logs/", "train_summary.json")
#: Temporaries of irpath versions before :data:`irpath.io.paths.TMP_MARK`.
_OLD_TEMPORARIES = ("*.tmp.keras", "checkpoints/*.tmp.keras", "checkpoints/state.json.tmp",
                    "config.json.tmp", "history.csv.tmp")


def plan_run(path, extra=(), *, inputs=()) -> None:
    """The output guard of a training run (:func:`irpath.io.paths.plan_outputs`): the run
    files may replace only a run's own files, never an input; stale temporaries go.

    Args:
        path: the run directory.
        extra: the method's own run files (``Method.run_outputs``).
        inputs: the files and folders the training reads.
    """
    from irpath.io.paths import plan_outputs

    path = Path(path)
    files = RUN_OUTPUTS + tuple(extra)
    plan_outputs(path, files, command="train", inputs=inputs, owned=files if _is_run(path) else ())
    for pattern in _OLD_TEMPORARIES:
        for f in path.glob(pattern):
            f.unlink(missing_ok=True)


def _is_run(path: Path) -> bool:
    """True when ``path`` holds a run directory's config.json (a run of any irpath version)."""
    try:
        return "method" in json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError, TypeError):
        return False


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class RunDirectory:
    """Paths of one run directory (see the module docstring).

    On a non-chief worker of a multi-worker cluster (``TF_CONFIG``), ``path`` is a
    temporary folder seeded from the real run directory ``shared`` (what a resume
    reads) and removed at exit: only the chief writes the run directory.
    """

    path: Path
    shared: Path | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        from irpath.train.cluster import task, worker_scratch

        path = Path(self.path)
        object.__setattr__(self, "shared", path)
        t = task()
        if t.multi_worker and not t.is_chief:
            path = worker_scratch(path)
        object.__setattr__(self, "path", path)

    @property
    def is_writer(self) -> bool:
        """True unless this is a non-chief worker's stand-in for the run directory."""
        return self.path == self.shared

    config = property(lambda self: self.path / CONFIG_FILE)
    stats = property(lambda self: self.path / STATS_FILE)
    cache = property(lambda self: self.path / "cache")
    checkpoints = property(lambda self: self.path / "checkpoints")
    last = property(lambda self: self.path / "checkpoints" / "last.keras")
    best = property(lambda self: self.path / BEST_FILE)
    inference = property(lambda self: self.path / INFERENCE_FILE)
    saved_model = property(lambda self: self.path / SAVED_MODEL_DIR)
    history = property(lambda self: self.path / HISTORY_FILE)
    logs = property(lambda self: self.path / "logs")
    summary = property(lambda self: self.path / "train_summary.json")

    def state(self) -> dict:
        from irpath.train.callbacks import read_state

        return read_state(self.checkpoints)

    @property
    def started(self) -> bool:
        """True once a training epoch has finished (the recipe is then locked)."""
        state = self.state()
        return bool(state.get("epoch") or state.get("step"))

    def start(self, method: str, model_cfg, train_cfg, *, data: dict | None = None):
        """Create the directory and lock the recipe, or check it on resume.

        A run whose training has started keeps its recipe: a different method, model
        config, train config (all but ``epochs`` and ``lr``) or data fingerprint is refused,
        naming what changed. A run that never finished an epoch (e.g. it failed
        while caching) takes the new recipe, and its stale statistics are dropped.

        Args:
            method: the method's registry name.
            model_cfg, train_cfg: the recipe.
            data: ``{name: fingerprint}`` of the data the run trains on.

        Returns:
            True when resuming a started run.
        """
        if self.is_writer:
            plan_run(self.path)
        else:
            from irpath.io.paths import make_output_dir

            make_output_dir(self.path)
        sections = recipe_sections(method, model_cfg, train_cfg)
        sections["data"] = data or {}
        if not self.config.exists() or not self.started:
            self.stats.unlink(missing_ok=True)
            save_json(self.config, **sections)
            return False
        saved = load_json(self.config)
        changed = []
        if saved.get("method", method) != method:
            raise ConfigError(f"{self.path}: this run trains method {saved.get('method')!r}, not "
                              f"{method!r}; use a new --out")
        for section, new, cfg in (("model", sections["model"], model_cfg), ("train", sections["train"], train_cfg)):
            new = json.loads(json.dumps(new))  # as saved: tuples become lists
            old = {**_defaults(cfg), **saved.get(section, {})}  # fields added since: their defaults
            changed += [k for k, v in new.items() if k not in RESUMABLE_KEYS and old.get(k) != v]
        if changed:
            raise ConfigError(f"{self.path}: this run was started with different settings "
                              f"({', '.join(changed)}); resume with the same options or use a new --out")
        old_data = saved.get("data", {})
        moved = [k for k, v in sections["data"].items() if k in old_data and old_data[k] != v]
        if moved:
            raise ConfigError(f"{self.path}: this run was trained on different data ({', '.join(moved)} "
                              "changed: manifest rows or file sizes/times); resume with the same data "
                              "or use a new --out")
        save_json(self.config, **sections)
        return True


def _defaults(cfg) -> dict:
    """The JSON form of ``cfg``'s class defaults ({} when a field has no default)."""
    try:
        return json.loads(json.dumps(dataclasses.asdict(type(cfg)())))
    except TypeError:
        return {}


def _global_batch(batch_size: int, strategy) -> int:
    return int(batch_size) * strategy.num_replicas_in_sync


def fit(run: RunDirectory, *, build: Callable[[], "keras.Model"], datasets: Callable, epochs: int,
        seed: int, batch_size: int, strategy=None, verbose: int | None = None,
        monitor: str = "val_loss", steps_per_epoch: int | None = None,
        lr: float | None = None) -> dict:
    """Train (or resume) a compiled model with checkpoints in ``run``.

    Resuming: ``datasets`` must start its training stream at the epoch in
    ``run.state()`` and make epoch ``e``'s batches a function of ``(seed, e)`` (see
    :func:`irpath.data.make_dataset` and :func:`irpath.data.rgb_pipeline.make_rgb_dataset`),
    so a resumed run sees what an uninterrupted one would. After a preemption
    (SIGTERM) the state also holds the steps already done in the interrupted epoch;
    they are skipped, the epoch is finished, then training goes on.

    Args:
        run: the run directory (after :meth:`RunDirectory.start`).
        build: returns a fresh compiled model; called inside the strategy scope.
        datasets: ``datasets(global_batch) -> (train_ds, val_ds or None)``; called again
            after a resumed, preempted epoch (the state then names the next epoch).
        epochs: the last epoch to reach.
        seed: seeds weights (``keras.utils.set_random_seed(seed + first epoch)``).
        batch_size: per replica; the global batch is batch_size x replicas.
        strategy: a ``tf.distribute`` strategy; default :func:`make_strategy`.
        verbose: Keras verbosity; default a bar on a terminal, else a line per epoch.
        monitor: the logged value the best model minimises (falls back to ``loss``
            without validation data).
        steps_per_epoch: batches per epoch when the training stream is endless.
        lr: on resume, the learning rate to continue with (the saved optimizer's otherwise).

    Returns:
        ``{"replicas", "global_batch", "initial_epoch", "seconds", "runtime"}``.

    Raises:
        TrainingDivergedError: the loss became non-finite (checkpoints kept).
        TrainingPreempted: SIGTERM; a checkpoint at the current step was saved.
    """
    import keras

    from irpath.train.callbacks import BestAndLastCheckpoint
    from irpath.train.keras_compat import enable_multi_worker_fit
    from irpath.train.preemption import PreemptionWatch
    from irpath.train.runtime import current
    from irpath.train.strategy import describe, is_multi_worker, make_strategy

    strategy = strategy or make_strategy()
    options = current()
    global_batch = _global_batch(batch_size, strategy)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    state = run.state()
    initial_epoch, step = int(state.get("epoch", 0)), int(state.get("step", 0))
    if (initial_epoch or step) and not run.last.exists():
        raise ConfigError(f"{run.last}: missing, but {run.checkpoints / 'state.json'} says "
                          f"{initial_epoch} epoch(s) finished; restore the file or use a new --out")
    keras.utils.set_random_seed(seed + initial_epoch)
    with strategy.scope():
        if initial_epoch or step:
            model = _load_checkpoint(run, lr)
            where = f"epoch {initial_epoch}" + (f" + {step} step(s) of epoch {initial_epoch + 1}"
                                                if step else "")
            log(f"resuming {run.path} from {where} (best {state.get('monitor', monitor)} "
                f"{state.get('best_value', float('nan')):.5f} at epoch {state.get('best_epoch')})")
        else:
            model = build()
        _check_runtime(run, model, strategy, options, resumed=bool(initial_epoch or step))
        if options.jit_compile:  # also after loading: the saved compile config says False
            model.jit_compile = True
        enable_multi_worker_fit(model, strategy)  # keras-team/keras#20585
    log(f"training on {describe(strategy)}: global batch {global_batch}, "
        f"{model.count_params():,} parameters, epochs {initial_epoch + 1}..{epochs}"
        + "".join(f", {k.replace('_', ' ')}" for k, v in dataclasses.asdict(options).items() if v))
    _truncate_history(run.history, initial_epoch)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    t0 = time.time()
    with PreemptionWatch(strategy) as watch:
        checkpoint = BestAndLastCheckpoint(run.checkpoints, run.best, monitor=monitor, state=state,
                                           preemption=watch, step_offset=step)
        while initial_epoch < epochs and checkpoint.preempted_at is None \
                and checkpoint.diverged_epoch is None:
            train_ds, val_ds = (_shard(d, strategy) for d in datasets(global_batch))
            # The history row is written before the checkpoint, so a kill between the two
            # leaves a row the resumed run rewrites (truncated above), never a missing one.
            callbacks = [keras.callbacks.CSVLogger(str(run.history), append=initial_epoch > 0),
                         checkpoint,
                         keras.callbacks.TensorBoard(log_dir=str(run.logs), write_graph=False)]
            if step:  # finish the preempted epoch first: its first `step` batches are done
                n_steps = steps_per_epoch or int(train_ds.cardinality())  # < 0: unknown
                if is_multi_worker(strategy) and 0 <= n_steps <= step:
                    raise ConfigError(
                        f"{run.checkpoints / 'state.json'}: records step {step} of an epoch with "
                        f"{n_steps} steps, which multi-worker training cannot resume from (an "
                        "empty epoch); resume it once in a single process (without "
                        "--local-workers / TF_CONFIG), then go on with the workers")
                model.fit(train_ds.skip(step), validation_data=val_ds, epochs=initial_epoch + 1,
                          initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose,
                          shuffle=False,
                          steps_per_epoch=steps_per_epoch - step if steps_per_epoch else None)
                initial_epoch, step = initial_epoch + 1, 0
                continue
            model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                      callbacks=callbacks, verbose=verbose, shuffle=False,
                      steps_per_epoch=steps_per_epoch)
            break
    diverged = checkpoint.diverged_epoch
    if diverged is not None:
        kept = run.state().get("epoch", 0)
        what = (f"kept the last finite checkpoint (epoch {kept}) and {run.best.name}" if kept
                else "no checkpoint exists yet")
        raise TrainingDivergedError(f"{run.path}: the training loss became non-finite (NaN/Inf) in "
                                    f"epoch {diverged}; {what}. Re-run with a lower --lr and the "
                                    "same --out to resume")
    if checkpoint.preempted_at is not None:
        epoch, done = checkpoint.preempted_at
        raise TrainingPreempted(f"{run.path}: stopped by SIGTERM in epoch {epoch} after step {done}; "
                                f"saved {run.last}. Re-run the same command to resume there")
    return {"replicas": strategy.num_replicas_in_sync, "global_batch": global_batch,
            "initial_epoch": int(state.get("epoch", 0)), "seconds": time.time() - t0,
            "runtime": dataclasses.asdict(options)}


def _check_runtime(run: RunDirectory, model, strategy, options, *, resumed: bool) -> None:
    """Refuse runtime switches that cannot apply to this model or strategy."""
    if options.jit_compile and strategy.num_replicas_in_sync > 1:
        raise ConfigError(f"--jit-compile trains on one replica only, but this run has "
                          f"{strategy.num_replicas_in_sync} (XLA cannot update variables mirrored "
                          "across devices here); drop --jit-compile")
    if resumed:
        mixed = any(layer.dtype_policy.compute_dtype in ("float16", "bfloat16")
                    for layer in model._flatten_layers())  # noqa: SLF001
        if mixed != options.mixed_precision:
            was = "with" if mixed else "without"
            raise ConfigError(f"{run.path}: this run was trained {was} --mixed-precision (its "
                              "first layers differ); resume with the same precision or use a new --out")


def _load_checkpoint(run: RunDirectory, lr: float | None):
    import irpath.train.optimizers  # noqa: F401  registers the optimizer of the checkpoint
    from irpath.inference.loading import ModelFileError, load_keras_model

    try:
        model = load_keras_model(run.last, compile=True)
    except ModelFileError as exc:
        raise ModelFileError(f"{exc}. The checkpoint is damaged: delete {run.checkpoints} to "
                             f"restart this run from epoch 0, or use a new --out") from None
    if lr is not None and model.optimizer is not None:
        model.optimizer.learning_rate = lr
    return model


def _shard(ds, strategy):
    """Shard ``ds`` by elements across the workers of a multi-worker strategy (each worker
    builds the same stream and takes its share of every global batch)."""
    import tensorflow as tf

    from irpath.train.strategy import is_multi_worker

    if ds is None or not is_multi_worker(strategy):
        return ds
    opts = tf.data.Options()
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(opts)


def finish(run: RunDirectory, method, *, fit_info: dict | None = None, export: bool = True) -> dict:
    """Take the inference model out of ``best.keras``, save it, export it, plot the history.

    Args:
        run: the run directory.
        method: the :class:`~irpath.methods.base.Method` that trained it.
        fit_info: what :func:`fit` returned, for the summary.
        export: also write ``saved_model/``.

    Returns:
        The summary, also written to ``train_summary.json``.
    """
    from irpath.inference.export import export_model
    from irpath.inference.loading import load_keras_model
    from irpath.io.paths import atomic_write_json
    from irpath.train.callbacks import atomic_save
    from irpath.viz.plots import plot_history

    if not run.is_writer:  # a non-chief worker: the chief finishes the run directory
        return {"run_dir": str(run.shared), "method": method.name, "worker_scratch": str(run.path)}
    if not run.best.exists():
        raise ConfigError(f"{run.best}: no best model was saved (did any epoch finish?)")
    best = load_keras_model(run.best)
    atomic_save(method.inference_model(best), run.inference)
    if export:
        export_model(run.path, run.saved_model, overwrite=True, quiet=True)
    history = read_history(run.history)
    if history:
        plot_history(history, run.path / "history.png")
    state = run.state()
    fit_info = fit_info or {}
    summary = {"run_dir": str(run.path), "method": method.name, "epochs": state.get("epoch"),
               "best_epoch": state.get("best_epoch"), "monitor": state.get("monitor"),
               "best_value": state.get("best_value"),
               "replicas": fit_info.get("replicas"), "global_batch": fit_info.get("global_batch"),
               "seconds_this_session": round(fit_info.get("seconds", 0.0), 1),
               "segmenter": str(run.inference), "saved_model": str(run.saved_model) if export else None,
               "runtime": fit_info.get("runtime")}
    if state.get("monitor") == "val_loss":
        summary["best_val_loss"] = state.get("best_value")
    atomic_write_json(run.summary, summary)
    log(f"best epoch {summary['best_epoch']} ({summary['monitor']} {summary['best_value']:.5f}); "
        f"inference model saved to {run.inference}")
    return summary


def _truncate_history(path: Path, epochs: int) -> None:
    """Keep the header and the rows of the first ``epochs`` epochs of a CSVLogger file."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    if not lines:
        return
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[0].isdigit() and int(ln.split(",")[0]) < epochs]
    if len(keep) != len(lines):
        from irpath.io.paths import atomic_write_text

        atomic_write_text(path, "\n".join(keep) + "\n")


def read_history(path) -> dict[str, list[float]]:
    """The CSVLogger file as ``{metric: [values per epoch]}`` ({} if absent); the
    ``epoch`` index column is left out, values are in epoch order."""
    path = Path(path)
    if not path.exists():
        return {}
    lines = [ln.split(",") for ln in path.read_text().strip().splitlines()]
    if len(lines) < 2:
        return {}
    cols = lines[0]
    return {c: [float(row[i]) for row in lines[1:] if len(row) == len(cols)]
            for i, c in enumerate(cols) if c != "epoch"}

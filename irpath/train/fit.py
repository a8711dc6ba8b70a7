"""The fit loop of one training phase: resume, checkpoints, divergence and preemption.

:func:`irpath.train.run` calls :func:`fit` once per phase with the method's model
builder and datasets.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Callable

from irpath.errors import ConfigError, TrainingDivergedError, TrainingPreempted
from irpath.train.run_dir import RunDirectory, truncate_history, log


#: Why ``--time-limit`` is refused with several workers (the CLI refuses it before launching them).
TIME_LIMIT_ONE_PROCESS = ("--time-limit trains in one process only (the workers could stop at "
                          "different epochs); drop it or --local-workers / TF_CONFIG")


def _global_batch(batch_size: int, strategy) -> int:
    return int(batch_size) * strategy.num_replicas_in_sync


def fit(run: RunDirectory, *, build: Callable[[], "keras.Model"], datasets: Callable, epochs: int,
        seed: int, batch_size: int, strategy=None, verbose: int | None = None,
        monitor: str = "val_loss", steps_per_epoch: int | None = None,
        lr: float | None = None, saved_objects: tuple[str, ...] = (),
        deadline: float | None = None) -> dict:
    """Train (or resume) a compiled model with checkpoints in ``run`` (one phase of
    :func:`irpath.train.run`; methods do not call it).

    Resuming: ``datasets`` must start its training stream at the epoch in
    ``run.state()`` and make epoch ``e``'s batches a function of ``(seed, e)`` (see
    e.g. :func:`irpath.data.rgb_pipeline.make_rgb_dataset`),
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
        saved_objects: modules to import before loading a checkpoint (they register its
            custom Keras objects).
        deadline: a ``time.time()`` by which training stops, at the end of the last epoch
            that fits before it (:class:`~irpath.train.callbacks.TimeLimit`); single
            process only.

    Returns:
        ``{"replicas", "global_batch", "initial_epoch", "seconds", "runtime",
        "time_limit_epoch"}`` (the epoch a deadline stopped training after, else None).

    Raises:
        TrainingDivergedError: the loss became non-finite (checkpoints kept).
        TrainingPreempted: SIGTERM; a checkpoint at the current step was saved.
    """
    import keras

    from irpath.train.callbacks import BestAndLastCheckpoint, TimeLimit
    from irpath.train.keras_compat import enable_multi_worker_fit
    from irpath.train.preemption import PreemptionWatch
    from irpath.train.runtime import current
    from irpath.train.strategy import describe, is_multi_worker, make_strategy

    strategy = strategy or make_strategy()
    if deadline is not None and is_multi_worker(strategy):
        raise ConfigError(TIME_LIMIT_ONE_PROCESS)
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
            model = _load_checkpoint(run, lr, saved_objects)
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
    truncate_history(run.history, initial_epoch)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    t0 = time.time()
    with PreemptionWatch(strategy) as watch:
        checkpoint = BestAndLastCheckpoint(run.checkpoints, run.best, monitor=monitor, state=state,
                                           preemption=watch, step_offset=step)
        limit = TimeLimit(deadline) if deadline is not None else None
        while initial_epoch < epochs and checkpoint.preempted_at is None \
                and checkpoint.diverged_epoch is None:
            train_ds, val_ds = (_shard(d, strategy) for d in datasets(global_batch))
            # The history row is written before the checkpoint, so a kill between the two
            # leaves a row the resumed run rewrites (truncated above), never a missing one.
            callbacks = [keras.callbacks.CSVLogger(str(run.history), append=initial_epoch > 0),
                         checkpoint,
                         keras.callbacks.TensorBoard(log_dir=str(run.logs), write_graph=False)]
            callbacks += [limit] if limit is not None else []
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
                if limit is not None and limit.stopped_after is not None:
                    break
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
    stopped = limit.stopped_after if limit is not None else None
    if stopped is not None and stopped < epochs:
        log(f"stopped by the time limit after epoch {stopped} of {epochs}; re-run the same command "
            "to go on from there")
    return {"replicas": strategy.num_replicas_in_sync, "global_batch": global_batch,
            "initial_epoch": int(state.get("epoch", 0)), "seconds": time.time() - t0,
            "runtime": dataclasses.asdict(options),
            "time_limit_epoch": stopped if stopped is not None and stopped < epochs else None}


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


def _load_checkpoint(run: RunDirectory, lr: float | None, saved_objects=()):
    import importlib

    from irpath.inference.loading import ModelFileError, load_keras_model

    for module in saved_objects:  # they register the Keras objects the checkpoint holds
        importlib.import_module(module)
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

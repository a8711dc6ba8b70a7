"""The one training driver: every method's run goes through :func:`run`.

A method declares its configs, data, phases, model and datasets
(:class:`irpath.methods.base.Method`); the driver owns the rest, the same way for
all of them:

1. ``method.load_data`` reads and checks the data; the data fingerprints are taken
   of ``method.fingerprint_inputs``;
2. for each phase of ``method.phases`` (multiloss: the classifier, then the joint
   network; the others one): lock or check the recipe in the phase's run directory
   (:meth:`RunDirectory.start`), ``method.prepare_run``, fit with resume, SIGTERM
   preemption and divergence checks (:func:`irpath.train.fit.fit`) on the strategy,
   ``method.after_fit``, and finish (inference model, export, history plot, summary).
   An earlier phase that already finished is checked and skipped on resume;
3. the last phase's summary is returned, with the earlier phases' under their names.

Multi-worker training (``TF_CONFIG``), ``--deterministic`` exact resume and
preemption thus hold for every method by construction.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from irpath.errors import ConfigError
from irpath.io.fingerprint import fingerprint
from irpath.train.fit import fit
from irpath.train.run_dir import RunDirectory, log, read_history


@dataclasses.dataclass(frozen=True)
class Phase:
    """One training phase.

    Attributes:
        model_cfg, train_cfg: the phase's recipe (locked in its run directory).
        name: "" for the final phase; an earlier phase's name keys its summary.
        folder: the phase's run directory, relative to the run's ("" = the run itself).
        export: write ``saved_model/`` when it finishes (the final phase's default).
    """

    model_cfg: object
    train_cfg: object
    name: str = ""
    folder: str = ""
    export: bool = True


@dataclasses.dataclass(frozen=True)
class TrainContext:
    """What a method's ``build_model``, ``datasets`` and friends are given.

    Attributes:
        run: the phase's run directory.
        phase: the phase.
        data: what ``method.load_data`` returned.
        strategy: the ``tf.distribute`` strategy.
        prepared: what ``method.prepare_run`` returned.
        previous: ``{name: RunDirectory}`` of the phases finished before this one.
    """

    run: RunDirectory
    phase: Phase
    data: object
    strategy: object
    prepared: object = None
    previous: dict = dataclasses.field(default_factory=dict)

    model_cfg = property(lambda self: self.phase.model_cfg)
    train_cfg = property(lambda self: self.phase.train_cfg)

    @property
    def global_batch(self) -> int:
        """The batch size per replica x replicas."""
        return int(self.train_cfg.batch_size) * self.strategy.num_replicas_in_sync

    @property
    def start_epoch(self) -> int:
        """The epoch the fit resumes at (0 for a new run)."""
        return int(self.run.state().get("epoch", 0))


def run(method, data: dict, out_dir, model_cfg, train_cfg, *, strategy=None,
        verbose: int | None = None, export: bool = True, time_limit: float | None = None) -> dict:
    """Train ``method`` on ``data`` into run directory ``out_dir``, resuming a run there.

    Args:
        method: a :class:`~irpath.methods.base.Method`.
        data: the method's data (``method.data_from_args``), e.g. ``{"train": csv, "val": csv}``.
        out_dir: the run directory (created).
        model_cfg, train_cfg: the recipe.
        strategy: a ``tf.distribute`` strategy; default :func:`irpath.train.strategy.make_strategy`.
        verbose: Keras verbosity; default a bar on a terminal, else a line per epoch.
        export: write the final phase's ``saved_model/`` (False: ``irpath export`` writes it
            later; a ``saved_model/`` left by an earlier end of the run is removed, being out of date).
        time_limit: seconds of wall clock from now; training stops at the end of the last
            epoch that fits (a later phase is then not started) and the run is finished
            from its best model as usual. Re-running resumes where it stopped.

    Returns:
        The final phase's summary (also ``out_dir/train_summary.json``).
    """
    import time

    from irpath.train.strategy import make_strategy

    if time_limit is not None and not time_limit > 0:
        raise ConfigError(f"--time-limit must be > 0 minutes, got {time_limit / 60:g}")
    deadline = None if time_limit is None else time.time() + time_limit
    out_dir = Path(out_dir)
    main = RunDirectory(out_dir, own_files=tuple(method.run_outputs))
    loaded = method.load_data(data, model_cfg, train_cfg, main)
    prints = {k: fingerprint(paths, extra)
              for k, (paths, extra) in method.fingerprint_inputs(data, model_cfg, train_cfg).items()}
    phases = tuple(method.phases(model_cfg, train_cfg, main))
    strategy = strategy or make_strategy()
    previous, summaries = {}, {}
    for i, phase in enumerate(phases):
        last = i == len(phases) - 1
        run_dir = main if not phase.folder else RunDirectory(out_dir / phase.folder,
                                                             own_files=tuple(method.run_outputs))
        if len(phases) > 1:
            log(f"phase {i + 1} of {len(phases)}{': ' + phase.name if phase.name else ''} ({run_dir.path})")
        if not last and run_dir.finished(phase.train_cfg.epochs):
            run_dir.start(method.name, phase.model_cfg, phase.train_cfg, data=prints)  # same recipe?
            log(f"phase {phase.name or i + 1} finished earlier ({run_dir.path})")
            summaries[phase.name] = json.loads(run_dir.summary.read_text())
        else:
            summaries[phase.name] = _train_phase(method, run_dir, phase, loaded, strategy, previous,
                                                 prints, verbose, export=export and phase.export and last,
                                                 deadline=deadline)
        previous[phase.name] = run_dir
        if not last and summaries[phase.name].get("time_limit_epoch"):
            log(f"the time limit ended phase {phase.name or i + 1}; later phases start when the "
                "same command is run again")
            return summaries[phase.name]
    summary = summaries[phases[-1].name]
    earlier = {k: v for k, v in summaries.items() if k != phases[-1].name}
    if earlier and main.is_writer:
        from irpath.io.paths import atomic_write_json

        summary.update(earlier)
        atomic_write_json(main.summary, summary)
    return summary


def _train_phase(method, run_dir, phase, loaded, strategy, previous, prints, verbose, *, export,
                 deadline=None):
    run_dir.start(method.name, phase.model_cfg, phase.train_cfg, data=prints)
    ctx = TrainContext(run=run_dir, phase=phase, data=loaded, strategy=strategy, previous=dict(previous))
    ctx = dataclasses.replace(ctx, prepared=method.prepare_run(ctx))
    steps = method.steps_per_epoch(ctx)
    cfg = phase.train_cfg
    info = fit(run_dir, build=lambda: method.build_model(ctx),
               datasets=lambda global_batch: method.datasets(ctx),
               epochs=cfg.epochs, seed=cfg.seed, batch_size=cfg.batch_size, strategy=strategy,
               verbose=verbose, steps_per_epoch=steps, lr=method.learning_rate(ctx),
               saved_objects=tuple(method.saved_objects), deadline=deadline)
    if run_dir.is_writer:
        method.after_fit(ctx)
    return finish(run_dir, method, fit_info=info, export=export)


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
    elif run.saved_model.exists():  # from an earlier end of this run: out of date now
        import shutil

        shutil.rmtree(run.saved_model)
        log(f"removed the out-of-date {run.saved_model} (`irpath export --model {run.path} --out DIR` writes one)")
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
               "runtime": fit_info.get("runtime"), "time_limit_epoch": fit_info.get("time_limit_epoch")}
    if state.get("monitor") == "val_loss":
        summary["best_val_loss"] = state.get("best_value")
    atomic_write_json(run.summary, summary)
    log(f"best epoch {summary['best_epoch']} ({summary['monitor']} {summary['best_value']:.5f}); "
        f"inference model saved to {run.inference}")
    return summary

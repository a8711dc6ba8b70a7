"""Callbacks that make a run directory resumable: best and last model, atomically,
and never from a diverged (non-finite) step."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import keras

from irpath.errors import ConfigError
from irpath.io.paths import atomic_path, atomic_write_json

STATE_FILE = "state.json"


def atomic_save(model: keras.Model, path: Path) -> None:
    """Save ``model`` to ``path`` (.keras) via a temporary file and a rename,
    so a run killed mid-save never leaves a half-written model behind; a failed save
    (a full disk: :class:`~irpath.io.paths.DiskError`) removes its temporary."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def read_state(checkpoint_dir: Path) -> dict:
    """``{"epoch": finished epochs, "monitor", "best_value", "best_epoch"}`` or {}; after a
    preemption also ``"step"``: the steps of epoch ``epoch + 1`` that ``last.keras`` holds.

    Raises:
        ConfigError: the file exists but is damaged (names it and what to do).
    """
    f = Path(checkpoint_dir) / STATE_FILE
    if not f.exists():
        return {}
    try:
        state = json.loads(f.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("epoch", 0), int) \
                or not isinstance(state.get("step", 0), int):
            raise ValueError("not a state object")
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{f}: damaged ({exc}); delete the checkpoints folder to restart this run "
                          "or use a new --out") from None
    if "best_value" not in state and "best_val_loss" in state:  # runs from irpath 0.1
        state["best_value"], state["monitor"] = state["best_val_loss"], "val_loss"
    return state


class BestAndLastCheckpoint(keras.callbacks.Callback):
    """After every epoch: save ``last.keras`` (weights + optimizer) and, when the
    monitored value improved, ``best.keras``; then record the state.

    A non-finite training loss stops training at once and saves nothing, so the
    last finite checkpoint and the best model are kept; ``diverged_epoch`` is then
    the 1-based epoch it happened in.

    With a :class:`~irpath.train.preemption.PreemptionWatch`, a SIGTERM saves
    ``last.keras`` after the current step, records the step in the state and stops;
    ``preempted_at`` is then ``(1-based epoch, steps done in it)``. On an epoch's last
    step the epoch is finished first (validation and the usual end-of-epoch save), so
    a state never records a step with nothing left of its epoch.

    Args:
        checkpoint_dir: where ``last.keras`` and ``state.json`` go.
        best_path: the best model's path.
        monitor: the logged value to minimise (paper: validation loss); ``loss``
            is used, and recorded, when it is not logged.
        state: a state from :func:`read_state` when resuming.
        preemption: the SIGTERM watch, or None.
        step_offset: steps of the first epoch done before this session (a resumed
            preemption); added to the batch index of that epoch.
    """

    def __init__(self, checkpoint_dir, best_path, monitor: str = "val_loss", state: dict | None = None,
                 preemption=None, step_offset: int = 0):
        super().__init__()
        self.dir = Path(checkpoint_dir)
        self.best_path = Path(best_path)
        self.monitor = monitor
        state = state or {}
        self.best = state.get("best_value", math.inf)
        self.best_epoch = state.get("best_epoch", -1)
        self.used_monitor = state.get("monitor")
        self.diverged_epoch = None
        self.preemption = preemption
        self.step_offset = int(step_offset)
        self.preempted_at = None
        self._stop_after_epoch = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_epoch = self._epoch + 1
            self.model.stop_training = True
        elif self.preemption is not None and self._stop_after_epoch is None \
                and self.preemption.requested():
            step = self.step_offset + batch + 1
            steps = (self.params or {}).get("steps")
            if steps and batch + 1 >= steps:
                # The epoch's last step: finish the epoch (validation, checkpoint) and stop
                # after it. Saved here, the resume would start on an empty epoch, which
                # multi-worker fit never returns from.
                self._stop_after_epoch = (self._epoch + 1, step)
                return
            atomic_save(self.model, self.dir / "last.keras")
            self._write_state(epoch=self._epoch, step=step)
            self.preempted_at = (self._epoch + 1, step)
            self.model.stop_training = True

    def _write_state(self, **fields):
        state = {**fields, "monitor": self.used_monitor or self.monitor, "best_value": self.best,
                 "best_epoch": self.best_epoch}
        atomic_write_json(self.dir / STATE_FILE, state, indent=None)

    def on_epoch_end(self, epoch, logs=None):
        self.step_offset = 0
        if self.preempted_at is not None:  # stopped mid-epoch: the epoch is not finished
            return
        logs = logs or {}
        loss = logs.get("loss")
        if self.diverged_epoch is not None or (loss is not None and not math.isfinite(float(loss))):
            self.diverged_epoch = self.diverged_epoch or epoch + 1
            self.model.stop_training = True
            return
        key = self.monitor if self.monitor in logs else "loss"
        value = logs.get(key)
        improved = value is not None and math.isfinite(float(value)) and float(value) < self.best
        if improved:
            self.best, self.best_epoch, self.used_monitor = float(value), epoch + 1, key
            atomic_save(self.model, self.best_path)
        atomic_save(self.model, self.dir / "last.keras")
        self.used_monitor = self.used_monitor or key
        self._write_state(epoch=epoch + 1)
        if improved:
            print(f"  epoch {epoch + 1}: {key} improved to {self.best:.5f}; saved "
                  f"{self.best_path.name}", flush=True)
        if self._stop_after_epoch is not None:
            self.preempted_at = self._stop_after_epoch
            self.model.stop_training = True


class TimeLimit(keras.callbacks.Callback):
    """Stop training at the end of the last epoch that fits before ``deadline`` (``time.time()``).

    After each epoch (its checkpoint already saved: this callback comes after
    :class:`BestAndLastCheckpoint`), training stops when the deadline has passed or
    another epoch as long as the one just finished would not end before it.
    ``stopped_after`` is then the 1-based epoch; re-running the same command resumes there.
    """

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = float(deadline)
        self.stopped_after = None
        self._begin = None

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # diverged or preempted: those take precedence
            return
        now = time.time()
        if now + (now - (self._begin or now)) > self.deadline:
            self.stopped_after = epoch + 1
            self.model.stop_training = True

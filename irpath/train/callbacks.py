"""Callbacks that make a run directory resumable: best and last model, atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import keras

STATE_FILE = "state.json"


def atomic_save(model: keras.Model, path: Path) -> None:
    """Save ``model`` to ``path`` (.keras) via a temporary file and a rename,
    so a run killed mid-save never leaves a half-written model behind."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def read_state(checkpoint_dir: Path) -> dict:
    """``{"epoch": completed epochs, "best_val_loss": ..., "best_epoch": ...}`` or {}."""
    f = Path(checkpoint_dir) / STATE_FILE
    return json.loads(f.read_text()) if f.exists() else {}


class BestAndLastCheckpoint(keras.callbacks.Callback):
    """After every epoch: save ``last.keras`` (weights + optimizer) and, when the
    monitored value improved, ``best.keras``; then record the state.

    Args:
        checkpoint_dir: where ``last.keras`` and ``state.json`` go.
        best_path: the best model's path.
        monitor: the logged value to minimise (paper: validation loss).
        state: a state from :func:`read_state` when resuming.
    """

    def __init__(self, checkpoint_dir, best_path, monitor: str = "val_loss", state: dict | None = None):
        super().__init__()
        self.dir = Path(checkpoint_dir)
        self.best_path = Path(best_path)
        self.monitor = monitor
        state = state or {}
        self.best = state.get("best_val_loss", math.inf)
        self.best_epoch = state.get("best_epoch", -1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss"))
        improved = value is not None and float(value) < self.best
        if improved:
            self.best, self.best_epoch = float(value), epoch + 1
            atomic_save(self.model, self.best_path)
        atomic_save(self.model, self.dir / "last.keras")
        state = {"epoch": epoch + 1, "best_val_loss": self.best, "best_epoch": self.best_epoch}
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state) + "\n")
        os.replace(tmp, self.dir / STATE_FILE)
        if improved:
            print(f"  epoch {epoch + 1}: {self.monitor} improved to {self.best:.5f}; saved "
                  f"{self.best_path.name}", flush=True)

"""The layout of a model folder: what a training run and an export contain, by name.

One place for the file names that training (:mod:`irpath.train`), loading and
export (:mod:`irpath.inference`) and the CLI agree on.

A run directory (``irpath train ... --out RUN_DIR``)::

  config.json         method, irpath version, model + train config, data fingerprints
  resolution.json     µm per pixel of the training images (``train --mpp``)
  cache/              the method's data caches
  checkpoints/        last.keras (model + optimizer) and state.json, every epoch
  best.keras          the training model with the lowest monitored loss
  segmenter.keras     the inference model taken out of best.keras: what evaluate,
                      predict and export use; (N, H, W, C_in) -> (N, H, W, K)
  saved_model/        the same model as a SavedModel (``serve`` takes raw images)
  history.csv / .png  per-epoch losses
  logs/               TensorBoard
  train_summary.json  what the last session did
  <phase>/            an earlier training phase's own run directory (e.g. multiloss'
                      ``classifier/``), laid out the same way

plus the method's own files (``Method.run_outputs``, e.g. CompSegNet's ``stats.npz``).

An export (``irpath export --out SAVED_DIR``) is a SavedModel folder with
``irpath.json`` (the recipe and the names of the output maps) beside ``saved_model.pb``.
"""

from __future__ import annotations

from pathlib import Path

RUN_CONFIG = "config.json"
RESOLUTION_FILE = "resolution.json"
CACHE_DIR = "cache"
CHECKPOINTS_DIR = "checkpoints"
LAST_FILE = "last.keras"
STATE_FILE = "state.json"
BEST_FILE = "best.keras"
INFERENCE_FILE = "segmenter.keras"
SAVED_MODEL_DIR = "saved_model"
HISTORY_FILE = "history.csv"
HISTORY_PLOT = "history.png"
LOGS_DIR = "logs"
SUMMARY_FILE = "train_summary.json"
EXPORT_META = "irpath.json"
SAVED_MODEL_PB = "saved_model.pb"

#: What training writes in a run directory (``/``: a folder), checked before any work.
RUN_OUTPUTS = (RUN_CONFIG, CACHE_DIR + "/", CHECKPOINTS_DIR + "/", BEST_FILE, INFERENCE_FILE,
               SAVED_MODEL_DIR + "/", HISTORY_FILE, HISTORY_PLOT, LOGS_DIR + "/", SUMMARY_FILE)
#: What a non-chief worker's stand-in for a run directory is seeded with (what a resume reads).
RESUME_FILES = (RUN_CONFIG, BEST_FILE, SUMMARY_FILE)


def model_files(path, method_files=()) -> list[Path]:
    """What loading the model at ``path`` reads: its file or folder and the recipe and
    method files beside it (outputs must never replace one).

    Args:
        path: a run directory, a ``.keras`` file in one (or in its ``checkpoints/``), or an export.
        method_files: run-directory files of the methods (``Method.run_outputs``).
    """
    path = Path(path)
    if path.is_file():
        return [path, *(f / name for f in (path.parent, path.parent.parent)
                        for name in (RUN_CONFIG, *method_files))]
    if (path / SAVED_MODEL_PB).exists():
        return [path]
    return [path / name for name in (INFERENCE_FILE, RUN_CONFIG, *method_files, EXPORT_META,
                                     SAVED_MODEL_DIR, SAVED_MODEL_PB, "variables")]

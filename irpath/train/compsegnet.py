"""Training a CompSegNet from spot labels; the run directory is the model.

RUN_DIR/
  config.json        model + training config (the recipe; reused on resume)
  stats.npz          channel mean/std of training tissue pixels (input standardisation)
  cache/             training/validation caches (raw float32, read natively by tf.data)
  checkpoints/       last.keras (weights + optimizer) and state.json, every epoch
  best.keras         the CompSegNet with the lowest validation loss
  segmenter.keras    the U-Net extracted from best.keras: what evaluate/predict/export use
  saved_model/       the same U-Net as a SavedModel (``serve`` takes raw cubes)
  history.csv/.png   per-epoch loss and val_loss
  logs/              TensorBoard
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

from irpath.config import CompSegNetConfig, TrainConfig, from_dict, load_json, save_json
from irpath.errors import ConfigError
from irpath.io import read_manifest
from irpath.losses import ComparativeLoss
from irpath.models.compsegnet import build_from_config, extract_segmenter
from irpath.train.optimizers import RMSprop
from irpath.train.callbacks import BestAndLastCheckpoint, atomic_save, read_state
from irpath.train.strategy import describe, make_strategy

CONFIG_FILE = "config.json"
STATS_FILE = "stats.npz"
SEGMENTER_FILE = "segmenter.keras"
BEST_FILE = "best.keras"
SAVED_MODEL_DIR = "saved_model"


def tissue_statistics(index) -> tuple[np.ndarray, np.ndarray]:
    """(C,) mean and std over all tissue pixels of a cache, streamed spot by spot."""
    from irpath.spectra import channel_stats

    def spots():
        for i in range(len(index.entries)):
            cube, tissue, _ = index.load(i)
            yield cube, tissue
    return channel_stats(spots())


def _features(batch):
    return {"cube": batch["cube"], "tissue": batch["tissue"]}, batch["label"]


def _resolve_config(out: Path, model_cfg, train_cfg):
    """On a fresh run write the config; on resume reuse it (only ``epochs`` may change)."""
    f = out / CONFIG_FILE
    if not f.exists():
        save_json(f, model=model_cfg, train=train_cfg)
        return model_cfg, train_cfg, False
    saved = load_json(f)
    old_model = from_dict(CompSegNetConfig, saved["model"], source=str(f))
    old_train = from_dict(TrainConfig, saved["train"], source=str(f))
    changed = [k for k, v in dataclasses.asdict(model_cfg).items() if getattr(old_model, k) != v]
    changed += [k for k, v in dataclasses.asdict(train_cfg).items()
                if k != "epochs" and getattr(old_train, k) != v]
    if changed:
        raise ConfigError(f"{out}: this run was started with different settings "
                          f"({', '.join(changed)}); resume with the same options or use a new --out")
    if old_train.epochs != train_cfg.epochs:
        save_json(f, model=model_cfg, train=train_cfg)
    return model_cfg, train_cfg, True


def train(train_manifest, val_manifest, out_dir, model_cfg: CompSegNetConfig = CompSegNetConfig(),
          train_cfg: TrainConfig = TrainConfig(), *, strategy=None, verbose: int | None = None) -> dict:
    """Train a CompSegNet on spot labels; resumes if ``out_dir`` holds an interrupted run.

    Args:
        train_manifest, val_manifest: manifest CSVs (image,label[,mask][,tissue]).
        out_dir: the run directory (created).
        model_cfg, train_cfg: the recipe.
        strategy: a ``tf.distribute`` strategy; default from :func:`make_strategy`.
        verbose: Keras verbosity; default a progress bar on a terminal, else a line per epoch.

    Returns:
        A summary dict (also written to ``out_dir/train_summary.json``).
    """
    from irpath.data import build_cache, make_dataset
    from irpath.inference.export import export_segmenter
    from irpath.viz.plots import plot_history

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_m = read_manifest(train_manifest)
    val_m = read_manifest(val_manifest)
    if len(set(train_m.labels)) < 2:
        raise ConfigError(f"{train_m.path}: the training manifest needs both cancer (1) and "
                          "cancer-free (0) spots")
    model_cfg, train_cfg, resuming = _resolve_config(out, model_cfg, train_cfg)
    axis = model_cfg.axis
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    log(f"caching {len(train_m)} training and {len(val_m)} validation spots in {out / 'cache'}")
    train_idx = build_cache(train_m, out / "cache" / "train", target_axis=axis)
    val_idx = build_cache(val_m, out / "cache" / "val", target_axis=axis)
    stats_f = out / STATS_FILE
    if stats_f.exists():
        with np.load(stats_f) as z:
            mean, std = z["mean"], z["std"]
    else:
        mean, std = tissue_statistics(train_idx)
        np.savez(stats_f, mean=mean, std=std)

    strategy = strategy or make_strategy()
    replicas = strategy.num_replicas_in_sync
    global_batch = train_cfg.batch_size * replicas
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    state = read_state(ckpt_dir) if resuming else {}
    initial_epoch = int(state.get("epoch", 0))
    keras.utils.set_random_seed(train_cfg.seed + initial_epoch)

    with strategy.scope():
        if initial_epoch > 0 and (ckpt_dir / "last.keras").exists():
            model = keras.saving.load_model(ckpt_dir / "last.keras")
            log(f"resuming {out} from epoch {initial_epoch} (best val_loss "
                f"{state.get('best_val_loss', float('nan')):.5f} at epoch {state.get('best_epoch')})")
        else:
            initial_epoch = 0
            model = build_from_config(model_cfg, mean, std)
            model.compile(optimizer=RMSprop(learning_rate=train_cfg.lr, initial_accumulator=train_cfg.rms_init),
                          loss=ComparativeLoss(alpha=model_cfg.alpha))
    log(f"training on {describe(strategy)}: global batch {global_batch}, "
        f"{model.count_params():,} parameters, epochs {initial_epoch + 1}..{train_cfg.epochs}")

    pad = model_cfg.multiple
    train_ds = make_dataset(train_idx, batch_size=global_batch, shuffle=True, seed=train_cfg.seed,
                            augment=train_cfg.augment, comparative=True, pad_multiple=pad).map(_features)
    val_ds = make_dataset(val_idx, batch_size=global_batch, shuffle=False,
                          pad_multiple=pad).map(_features)
    callbacks = [
        BestAndLastCheckpoint(ckpt_dir, out / BEST_FILE, state=state),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=initial_epoch > 0),
        keras.callbacks.TensorBoard(log_dir=str(out / "logs"), write_graph=False),
    ]
    t0 = time.time()
    if initial_epoch < train_cfg.epochs:
        if verbose is None:
            verbose = 1 if sys.stdout.isatty() else 2
        model.fit(train_ds, validation_data=val_ds, epochs=train_cfg.epochs,
                  initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.time() - t0

    best = keras.saving.load_model(out / BEST_FILE)
    atomic_save(extract_segmenter(best), out / SEGMENTER_FILE)
    export_segmenter(out / SEGMENTER_FILE, out / SAVED_MODEL_DIR)
    history = read_history(out / "history.csv")
    if history:
        plot_history(history, out / "history.png")
    state = read_state(ckpt_dir)
    summary = {"run_dir": str(out), "epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
               "best_val_loss": state.get("best_val_loss"), "replicas": replicas,
               "global_batch": global_batch, "seconds_this_session": round(seconds, 1),
               "segmenter": str(out / SEGMENTER_FILE), "saved_model": str(out / SAVED_MODEL_DIR)}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"best epoch {summary['best_epoch']} (val_loss {summary['best_val_loss']:.5f}); "
        f"segmenter saved to {out / SEGMENTER_FILE}")
    return summary


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

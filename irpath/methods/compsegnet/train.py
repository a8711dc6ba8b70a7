"""CompSegNet's recipe: data (a raw cache of each manifest, channel statistics of the
training tissue), model (U-Net + pooling neuron), loss (comparative) and optimiser
(RMSprop). The driver (:func:`irpath.train.run`) runs it; the hooks of
:class:`~irpath.methods.compsegnet.CompSegNet` call the functions here.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from irpath.errors import ConfigError
from irpath.methods.compsegnet.config import CompSegNetTrainConfig
from irpath.train.run_dir import log

STATS_FILE = "stats.npz"


def tissue_statistics(index, preprocess=None, axis=None) -> tuple[np.ndarray, np.ndarray]:
    """(C,) mean and std over all tissue pixels of a cache, streamed spot by spot, after
    the model's spectral ``preprocess`` steps (the numpy twins of its layers)."""
    from irpath.spectra import channel_stats
    from irpath.spectra.preprocess import PreprocessSpec, preprocess_spectra

    spec = PreprocessSpec.from_value(preprocess)

    def spots():
        for i in range(len(index.entries)):
            cube, tissue, _ = index.load(i)
            if not spec.is_identity:
                cube = preprocess_spectra(cube, spec, axis).astype(np.float32)
            yield cube, tissue
    return channel_stats(spots())


def learning_rate(train_cfg: CompSegNetTrainConfig, steps_per_epoch: int):
    """RMSprop's learning rate: ``train_cfg.lr``, or a cosine decay from it to 0 over
    ``epochs x steps_per_epoch`` steps (a Keras schedule, saved with the optimizer: a
    resumed run continues on it, stretched to the new total if ``--epochs`` grew)."""
    if train_cfg.lr_schedule == "constant":
        return float(train_cfg.lr)
    import keras

    return keras.optimizers.schedules.CosineDecay(
        train_cfg.lr, decay_steps=int(train_cfg.epochs * steps_per_epoch), alpha=0.0)


def _features(batch):
    return {"cube": batch["cube"], "tissue": batch["tissue"], "dihedral": batch["dihedral"]}, batch["label"]


@dataclasses.dataclass(frozen=True)
class Manifests:
    """The checked training and validation manifests."""

    train: object
    val: object


@dataclasses.dataclass(frozen=True)
class Caches:
    """The run's raw caches and the training tissue's channel statistics."""

    train: object
    val: object
    mean: np.ndarray
    std: np.ndarray


def load_manifests(data: dict) -> Manifests:
    """Read both manifests (every file checked); a training set needs both classes."""
    from irpath.io import read_manifest

    train_m = read_manifest(data["train_manifest"], check_files=True)
    val_m = read_manifest(data["val_manifest"], check_files=True)
    if len(set(train_m.labels)) < 2:
        raise ConfigError(f"{train_m.path}: the training manifest needs both cancer (1) and "
                          "cancer-free (0) spots")
    return Manifests(train_m, val_m)


def fingerprint_inputs(data: dict, model_cfg) -> dict:
    """Each manifest with the files its rows name, and the spectral axis they are cached on."""
    from irpath.io import read_manifest

    out = {}
    for name, key in (("train", "train_manifest"), ("val", "val_manifest")):
        m = read_manifest(data[key], check_files=True)
        files = [m.path] + [f for r in m for f in (r.image, r.mask, r.tissue)]
        out[name] = (files, {"labels": list(m.labels), "axis": np.asarray(model_cfg.axis).tolist()})
    return out


def build_caches(ctx) -> Caches:
    """The raw caches of both manifests in ``RUN_DIR/cache`` and the statistics in
    ``RUN_DIR/stats.npz`` (computed once, kept when a started run resumes)."""
    from irpath.data import build_cache
    from irpath.data.cache import load_stats

    run, manifests, cfg, train_cfg = ctx.run, ctx.data, ctx.model_cfg, ctx.train_cfg
    log(f"caching {len(manifests.train)} training and {len(manifests.val)} validation spots in "
        f"{run.cache} ({train_cfg.cache_dtype})")
    dtype = train_cfg.cache_dtype
    train_idx = build_cache(manifests.train, run.cache / "train", target_axis=cfg.axis, cube_dtype=dtype)
    val_idx = build_cache(manifests.val, run.cache / "val", target_axis=cfg.axis, cube_dtype=dtype)
    stats = run.path / STATS_FILE
    if stats.exists() and run.started:  # a run that never trained takes new statistics
        mean, std = load_stats(stats)
    else:
        mean, std = tissue_statistics(train_idx, cfg.preprocess, cfg.axis)
        np.savez(stats, mean=mean, std=std)
    return Caches(train_idx, val_idx, mean, std)


def steps_per_epoch(ctx) -> int:
    return math.ceil(len(ctx.data.train) / ctx.global_batch)


def build_model(ctx):
    """The training model (U-Net + neuron), compiled with the comparative loss and RMSprop."""
    from irpath.losses import ComparativeLoss
    from irpath.methods.compsegnet.config import build_from_config
    from irpath.methods.compsegnet.optimizer import RMSprop

    cfg, train_cfg, caches = ctx.model_cfg, ctx.train_cfg, ctx.prepared
    # The flips/turns run in the training step, on the replica's device (the pipeline
    # draws them as it would apply them, so the augmentation is unchanged).
    model = build_from_config(cfg, caches.mean, caches.std, device_augment=True)
    model.compile(optimizer=RMSprop(learning_rate=learning_rate(train_cfg, steps_per_epoch(ctx)),
                                    initial_accumulator=train_cfg.rms_init),
                  loss=ComparativeLoss(alpha=cfg.alpha, signed=train_cfg.loss == "signed"))
    return model


def datasets(ctx):
    """An endless comparative stream from the epoch the fit resumes at (epoch e is a function
    of (seed, e)), and the validation spots."""
    from irpath.methods.compsegnet.data import make_dataset

    cfg, train_cfg, caches, batch = ctx.model_cfg, ctx.train_cfg, ctx.prepared, ctx.global_batch
    pad = cfg.multiple
    train_ds = make_dataset(caches.train, batch_size=batch, shuffle=True, seed=train_cfg.seed,
                            augment=train_cfg.augment, comparative=True, pad_multiple=pad,
                            repeat=True, epoch=ctx.start_epoch, steps_per_epoch=steps_per_epoch(ctx),
                            device_augment=True).map(_features)
    val_ds = make_dataset(caches.val, batch_size=batch, shuffle=False, pad_multiple=pad,
                          device_augment=True).map(_features)
    return train_ds, val_ds

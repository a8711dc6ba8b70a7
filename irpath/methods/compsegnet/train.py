"""Training a CompSegNet from spot labels: the recipe glue around the core run directory.

The run directory's layout, resume, checkpoints and export are the core's
(:mod:`irpath.train.run_dir`); this module supplies CompSegNet's data (a raw
cache of each manifest, channel statistics of the training tissue), model
(U-Net + pooling neuron), loss (comparative) and optimiser (RMSprop).
"""

from __future__ import annotations

import math

import numpy as np

from irpath.errors import ConfigError
from irpath.methods.compsegnet.config import CompSegNetConfig, CompSegNetTrainConfig
from irpath.train.run_dir import RunDirectory, finish, fit, log

NAME = "compsegnet"


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


def train(train_manifest, val_manifest, out_dir, model_cfg: CompSegNetConfig = CompSegNetConfig(),
          train_cfg: CompSegNetTrainConfig = CompSegNetTrainConfig(), *, strategy=None,
          verbose: int | None = None) -> dict:
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
    from irpath.data.cache import fingerprint
    from irpath.io import read_manifest
    from irpath.methods import get_method

    run = RunDirectory(out_dir)
    train_m = read_manifest(train_manifest, check_files=True)
    val_m = read_manifest(val_manifest, check_files=True)
    if len(set(train_m.labels)) < 2:
        raise ConfigError(f"{train_m.path}: the training manifest needs both cancer (1) and "
                          "cancer-free (0) spots")
    axis = model_cfg.axis
    data = {"train": fingerprint(train_m, axis), "val": fingerprint(val_m, axis)}
    run.start(NAME, model_cfg, train_cfg, data=data)

    log(f"caching {len(train_m)} training and {len(val_m)} validation spots in {run.cache} "
        f"({train_cfg.cache_dtype})")
    dtype = train_cfg.cache_dtype
    train_idx = build_cache(train_m, run.cache / "train", target_axis=axis, cube_dtype=dtype)
    val_idx = build_cache(val_m, run.cache / "val", target_axis=axis, cube_dtype=dtype)
    if run.stats.exists():
        from irpath.data.cache import load_stats

        mean, std = load_stats(run.stats)
    else:
        mean, std = tissue_statistics(train_idx, model_cfg.preprocess, model_cfg.axis)
        np.savez(run.stats, mean=mean, std=std)

    def build():
        from irpath.losses import ComparativeLoss
        from irpath.methods.compsegnet.config import build_from_config
        from irpath.train.optimizers import RMSprop

        # The flips/turns run in the training step, on the replica's device (the pipeline
        # draws them as it would apply them, so the augmentation is unchanged).
        model = build_from_config(model_cfg, mean, std, device_augment=True)
        model.compile(optimizer=RMSprop(learning_rate=learning_rate(train_cfg, steps_per_epoch),
                                        initial_accumulator=train_cfg.rms_init),
                      loss=ComparativeLoss(alpha=model_cfg.alpha, signed=train_cfg.loss == "signed"))
        return model

    def steps(global_batch):
        return math.ceil(len(train_idx) / global_batch)

    def datasets(global_batch):
        pad = model_cfg.multiple
        # An endless stream from the epoch fit() resumes at; epoch e is a function of (seed, e).
        train_ds = make_dataset(train_idx, batch_size=global_batch, shuffle=True, seed=train_cfg.seed,
                                augment=train_cfg.augment, comparative=True, pad_multiple=pad,
                                repeat=True, epoch=int(run.state().get("epoch", 0)),
                                steps_per_epoch=steps(global_batch),
                                device_augment=True).map(_features)
        val_ds = make_dataset(val_idx, batch_size=global_batch, shuffle=False,
                              pad_multiple=pad, device_augment=True).map(_features)
        return train_ds, val_ds

    from irpath.train.strategy import make_strategy

    strategy = strategy or make_strategy()
    steps_per_epoch = steps(train_cfg.batch_size * strategy.num_replicas_in_sync)
    info = fit(run, build=build, datasets=datasets, epochs=train_cfg.epochs, seed=train_cfg.seed,
               batch_size=train_cfg.batch_size, strategy=strategy, verbose=verbose,
               lr=learning_rate(train_cfg, steps_per_epoch), steps_per_epoch=steps_per_epoch)
    return finish(run, get_method(NAME), fit_info=info)

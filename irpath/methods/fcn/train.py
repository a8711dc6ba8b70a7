"""Training the VGG16-FCN: the recipe glue around the core run directory.

Data: :mod:`irpath.methods.fcn.data` (pairs, mirroring, optional noise);
model: :func:`irpath.models.vgg_fcn.build_vgg_fcn` (optionally from a local
VGG16 weights file); loss: :class:`irpath.losses.fcn.SegmentationLoss`
(cross-entropy or λ1 L1 + λ2 L2, plus an optional TV term); optimiser: Adam
whose learning rate decays by ``decay`` once per epoch (staircase), as the
paper's "learning rate 0.0001, learning decay rate 0.96". The run directory,
resume, best-epoch selection (lowest validation loss) and export are the core's.
"""

from __future__ import annotations

from irpath.methods.fcn.config import FcnConfig, FcnTrainConfig, network_kwargs
from irpath.train.run_dir import RunDirectory, finish, fit, log

NAME = "fcn"


def learning_rate(train_cfg: FcnTrainConfig, steps_per_epoch: int):
    """The Adam learning rate: ``lr * decay ** floor(step / steps_per_epoch)``."""
    import keras

    if train_cfg.decay == 1.0:
        return float(train_cfg.lr)
    return keras.optimizers.schedules.ExponentialDecay(
        train_cfg.lr, decay_steps=int(steps_per_epoch), decay_rate=train_cfg.decay, staircase=True)


def build_model(model_cfg: FcnConfig, train_cfg: FcnTrainConfig, steps_per_epoch: int):
    """A fresh compiled VGG16-FCN (encoder from ``train_cfg.vgg_weights`` if given)."""
    import keras

    from irpath.losses.fcn import SegmentationLoss
    from irpath.models.vgg_fcn import build_vgg_fcn

    model = build_vgg_fcn(weights=train_cfg.vgg_weights, **network_kwargs(model_cfg))
    loss = SegmentationLoss(train_cfg.loss, l1=train_cfg.l1, l2=train_cfg.l2,
                            tv_weight=train_cfg.tv_weight)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(train_cfg, steps_per_epoch)),
                  loss=loss)
    return model


def train(train_data, val_data, out_dir, model_cfg: FcnConfig = FcnConfig(),
          train_cfg: FcnTrainConfig = FcnTrainConfig(), *, strategy=None,
          verbose: int | None = None) -> dict:
    """Train a VGG16-FCN; resumes if ``out_dir`` holds an interrupted run.

    Args:
        train_data, val_data: manifest CSVs (``image,label``) or ``images/`` +
            ``labels/`` folders; ``val_data`` selects the best epoch.
        out_dir: the run directory (created).
        model_cfg, train_cfg: the recipe.
        strategy: a ``tf.distribute`` strategy; default from :func:`make_strategy`.
        verbose: Keras verbosity; default a bar on a terminal, else a line per epoch.

    Returns:
        The summary written to ``out_dir/train_summary.json``.
    """
    import math
    from pathlib import Path

    from irpath.errors import MissingFileError
    from irpath.methods import get_method
    from irpath.methods.fcn.data import fingerprint, make_datasets, read_pairs, window_of
    from irpath.train.strategy import make_strategy

    if train_cfg.vgg_weights not in (None, "imagenet") and not Path(train_cfg.vgg_weights).is_file():
        raise MissingFileError(f"{train_cfg.vgg_weights}: VGG16 weights file not found")
    run = RunDirectory(out_dir)
    prints = {"train": fingerprint(train_data), "val": fingerprint(val_data)}
    train_pairs, val_pairs = read_pairs(train_data), read_pairs(val_data)
    window_of(train_pairs, train_cfg.crop, "training")  # one size for whole images, else refuse
    window_of(val_pairs, train_cfg.crop, "validation")
    run.start(NAME, model_cfg, train_cfg, data=prints)
    log(f"{len(train_pairs)} training and {len(val_pairs)} validation images")

    strategy = strategy or make_strategy()
    global_batch = train_cfg.batch_size * strategy.num_replicas_in_sync
    steps = math.ceil(len(train_pairs) / global_batch)

    def datasets(batch):
        start = int(run.state().get("epoch", 0))
        train_ds, val_ds, _ = make_datasets(train_pairs, val_pairs, train_cfg, global_batch=batch,
                                            start_epoch=start)
        return train_ds, val_ds

    info = fit(run, build=lambda: build_model(model_cfg, train_cfg, steps), datasets=datasets,
               epochs=train_cfg.epochs, seed=train_cfg.seed, batch_size=train_cfg.batch_size,
               strategy=strategy, verbose=verbose, steps_per_epoch=steps,
               lr=learning_rate(train_cfg, steps))
    return finish(run, get_method(NAME), fit_info=info)

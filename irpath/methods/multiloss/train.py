"""Training the multi-loss network: the recipe glue around the core run directory.

Schedule (Sec. 2.1, 2.4): for ``mode="joint"`` the classifier is pre-trained first
(phase 1, its own resumable run directory ``RUN_DIR/classifier/``), then the full
network is trained with L = λ L_c + (1 - λ) L_s (phase 2, in ``RUN_DIR``). Modes
"class" and "seg" train their one component in ``RUN_DIR``. Training samples are
random ``crop`` x ``crop`` windows of the training tiles, jointly augmented
(:func:`irpath.data.rgb_pipeline.make_rgb_dataset`); validation uses fixed crops
of the validation tiles and selects the best epoch by validation loss.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from irpath.methods.multiloss.config import MultiLossConfig, MultiLossTrainConfig, network_kwargs
from irpath.train.run_dir import RunDirectory, finish, fit, log

NAME = "multiloss"
CLASSIFIER_DIR = "classifier"


def make_optimizer(train_cfg: MultiLossTrainConfig):
    import keras

    if train_cfg.optimizer == "sgd":
        return keras.optimizers.SGD(train_cfg.lr, momentum=train_cfg.momentum)
    return keras.optimizers.Adam(train_cfg.lr)


def _datasets(train, val, model_cfg, train_cfg, run: RunDirectory, mode: str):
    """``datasets(global_batch) -> (train_ds, val_ds)`` and a ``steps(global_batch)`` helper."""
    import tensorflow as tf

    from irpath.data.rgb_pipeline import make_rgb_dataset

    with_label = mode != "seg" and model_cfg.class_source != "predicted"
    crop = train_cfg.crop

    def to_inputs(images, maps):
        inst, cls_map = maps
        onehot = tf.one_hot(tf.cast(cls_map[:, crop // 2, crop // 2], tf.int32), 2)
        x = {"image": images}
        if with_label:
            x["label"] = onehot
        y = {}
        if mode in ("class", "joint"):
            y["scores"] = onehot
        if mode in ("seg", "joint"):
            y["segmentation"] = tf.cast(inst > 0, tf.float32)[..., None]
        return x, y

    def maps_of(tiles):
        return [(lab.astype("int32"), (lab * 0 + int(c)).astype("int32"))
                for lab, c in zip(tiles.labels, tiles.classes)]

    def steps(global_batch):
        return math.ceil(len(train) / global_batch)

    def datasets(global_batch):
        start = int(run.state().get("epoch", 0))
        train_ds = make_rgb_dataset(train.images, maps_of(train), crop=crop, batch_size=global_batch,
                                    seed=train_cfg.seed, augment=train_cfg.augment_config(),
                                    shuffle=True, repeat=True, epoch=start,
                                    steps_per_epoch=steps(global_batch))
        val_ds = make_rgb_dataset(val.images, maps_of(val), crop=crop, batch_size=global_batch,
                                  seed=train_cfg.seed + 1, augment=None, shuffle=False)
        return train_ds.map(to_inputs), val_ds.map(to_inputs)
    return datasets, steps


def _compile(model, mode: str, train_cfg: MultiLossTrainConfig):
    from irpath.losses.multiloss import multiloss_compile_args

    model.compile(optimizer=make_optimizer(train_cfg),
                  **multiloss_compile_args(mode, lam=train_cfg.lam,
                                           pixel_reduction=train_cfg.pixel_reduction,
                                           prior_use=train_cfg.prior_use))
    return model


def _phase(run, mode, model_cfg, train_cfg, epochs, build_model, train, val, *, data, strategy,
           verbose, method, export: bool):
    """One training phase in ``run``: lock the recipe, fit, finish."""
    run.start(NAME, dataclasses.replace(model_cfg, mode=mode),
              dataclasses.replace(train_cfg, epochs=epochs), data=data)
    datasets, steps = _datasets(train, val, model_cfg, train_cfg, run, mode)

    def build():
        return _compile(build_model(), mode, train_cfg)

    from irpath.train.strategy import make_strategy

    strategy = strategy or make_strategy()
    global_batch = train_cfg.batch_size * strategy.num_replicas_in_sync
    info = fit(run, build=build, datasets=datasets, epochs=epochs, seed=train_cfg.seed,
               batch_size=train_cfg.batch_size, strategy=strategy, verbose=verbose,
               steps_per_epoch=steps(global_batch), lr=train_cfg.lr)
    return finish(run, method, fit_info=info, export=export)


def train(data, out_dir, model_cfg: MultiLossConfig = MultiLossConfig(),
          train_cfg: MultiLossTrainConfig = MultiLossTrainConfig(), *, strategy=None,
          verbose: int | None = None) -> dict:
    """Train the multi-loss network; resumes if ``out_dir`` holds an interrupted run.

    Args:
        data: a GlaS folder or an ``image,label,class`` manifest (see :mod:`.data`).
        out_dir: the run directory (created); phase 1 goes to ``out_dir/classifier/``.
        model_cfg, train_cfg: the recipe.
        strategy: a ``tf.distribute`` strategy; default from :func:`make_strategy`.
        verbose: Keras verbosity.

    Returns:
        The summary of the last phase (``train_summary.json``), with ``pretrain`` holding
        phase 1's for "joint".
    """
    import keras

    from irpath.methods import get_method
    from irpath.methods.multiloss.data import fingerprint, load_training_tiles, write_split
    from irpath.models.multiloss import PRIOR_NAME, build_classifier, build_joint_model, build_segmenter

    from irpath.io.paths import atomic_write_json, make_output_dir

    method = get_method(NAME)
    run = RunDirectory(out_dir)
    train_tiles, val_tiles, split = load_training_tiles(data, train_cfg)
    write_split(make_output_dir(run.path), split)  # refuses a split other than the run's
    prints = {"data": fingerprint(data)}
    kw = network_kwargs(model_cfg)
    mode = model_cfg.mode
    log(f"{len(train_tiles)} training and {len(val_tiles)} validation tiles "
        f"({len(split['train'])} / {len(split['val'])} images)")
    common = dict(data=prints, strategy=strategy, verbose=verbose, method=method)
    pretrain = None
    if mode == "joint":
        clf_run = RunDirectory(Path(out_dir) / CLASSIFIER_DIR)
        done = int(clf_run.state().get("epoch", 0)) if clf_run.checkpoints.exists() else 0
        if train_cfg.pretrain_epochs > 0 and done >= train_cfg.pretrain_epochs \
                and clf_run.summary.exists() and clf_run.best.exists():
            # resuming phase 2: phase 1 is finished; its recipe must still match
            clf_run.start(NAME, dataclasses.replace(model_cfg, mode="class"),
                          dataclasses.replace(train_cfg, epochs=train_cfg.pretrain_epochs), data=prints)
            log(f"phase 1 finished earlier ({clf_run.path})")
            pretrain = json.loads(clf_run.summary.read_text())
        elif train_cfg.pretrain_epochs > 0:
            log(f"phase 1: pre-training the classifier in {clf_run.path}")
            pretrain = _phase(clf_run, "class", model_cfg, train_cfg, train_cfg.pretrain_epochs,
                              lambda: build_joint_model(build_classifier(**kw["classifier"]), None,
                                                        **dict(kw["joint"], mode="class")),
                              train_tiles, val_tiles, export=False, **common)
        log("phase 2: joint training" if pretrain else "joint training (no pre-training)")

    def build_model():
        if mode == "seg":
            return build_joint_model(None, build_segmenter(**kw["segmenter"]), **kw["joint"])
        if mode == "class":
            return build_joint_model(build_classifier(**kw["classifier"]), None, **kw["joint"])
        if pretrain is not None:
            from irpath.inference.loading import load_keras_model

            classifier = load_keras_model(clf_run.best).get_layer(PRIOR_NAME).classifier
        else:
            classifier = build_classifier(**kw["classifier"])
        keras.utils.set_random_seed(train_cfg.seed + 1)  # the segmenter's own initial weights
        return build_joint_model(classifier, build_segmenter(**kw["segmenter"]), **kw["joint"])

    summary = _phase(run, mode, model_cfg, train_cfg, train_cfg.epochs, build_model, train_tiles,
                     val_tiles, export=True, **common)
    if pretrain is not None:
        summary["pretrain"] = pretrain
        atomic_write_json(run.summary, summary)
    return summary

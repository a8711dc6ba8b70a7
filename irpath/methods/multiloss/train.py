"""The multi-loss network's recipe: phases, data, losses and optimiser, run by the driver.

Schedule (Sec. 2.1, 2.4): for ``mode="joint"`` the classifier is pre-trained first
(phase "pretrain", its own resumable run directory ``RUN_DIR/classifier/``), then the
full network is trained with L = λ L_c + (1 - λ) L_s (the final phase, in ``RUN_DIR``,
starting from phase 1's classifier). Modes "class" and "seg" train their one component
in ``RUN_DIR``. Training samples are random ``crop`` x ``crop`` windows of the
training tiles, jointly augmented (:func:`irpath.data.rgb_pipeline.make_rgb_dataset`);
validation uses fixed crops of the validation tiles and selects the best epoch by
validation loss. The run directory, fit, resume and export are the driver's
(:func:`irpath.train.run`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from irpath.methods.multiloss.config import MultiLossConfig, MultiLossTrainConfig, network_kwargs
from irpath.train.run_dir import log

CLASSIFIER_DIR = "classifier"
PRETRAIN = "pretrain"


def make_optimizer(train_cfg: MultiLossTrainConfig):
    import keras

    if train_cfg.optimizer == "sgd":
        return keras.optimizers.SGD(train_cfg.lr, momentum=train_cfg.momentum)
    return keras.optimizers.Adam(train_cfg.lr)


def phases(model_cfg: MultiLossConfig, train_cfg: MultiLossTrainConfig) -> tuple:
    """Joint mode with pre-training: the classifier alone (``RUN_DIR/classifier/``), then the
    whole network; otherwise the one phase of ``model_cfg.mode``."""
    from irpath.train import Phase

    final = Phase(model_cfg=model_cfg, train_cfg=train_cfg)
    if model_cfg.mode != "joint" or train_cfg.pretrain_epochs <= 0:
        return (final,)
    pretrain = Phase(model_cfg=dataclasses.replace(model_cfg, mode="class"),
                     train_cfg=dataclasses.replace(train_cfg, epochs=train_cfg.pretrain_epochs),
                     name=PRETRAIN, folder=CLASSIFIER_DIR, export=False)
    return pretrain, final


def load_data(data: dict, train_cfg: MultiLossTrainConfig, run):
    """``(train, val)`` tiles; the split is recorded in ``RUN_DIR/split.json`` (a run that
    records another split is refused)."""
    from irpath.io.paths import make_output_dir
    from irpath.methods.multiloss.data import load_training_tiles, write_split

    if data.get("train_manifest"):  # slides + QuPath GeoJSON: file-backed, nothing read up front
        from irpath.methods.multiloss.slides import read_slide_set

        cmap = data.get("class_map")
        train_set = read_slide_set(data["train_manifest"], data.get("mpp"), train_cfg, train=True, class_map=cmap)
        val_set = read_slide_set(data["val_manifest"], data.get("mpp"), train_cfg, train=False, class_map=cmap)
        log(f"{len(train_set)} training and {len(val_set)} validation slides (QuPath GeoJSON "
            f"glands), {train_set.crop}-pixel crops at {data.get('mpp') or 'level-0'} µm/px")
        return train_set, val_set
    train_tiles, val_tiles, split = load_training_tiles(data["data"], train_cfg)
    write_split(make_output_dir(run.path), split)  # refuses a split other than the run's
    log(f"{len(train_tiles)} training and {len(val_tiles)} validation tiles "
        f"({len(split['train'])} / {len(split['val'])} images)")
    return train_tiles, val_tiles


def fingerprint_inputs(data: dict) -> dict:
    """A GlaS folder, or a manifest with the files beside it, or the GeoJSON manifests' files."""
    if data.get("train_manifest"):
        from irpath.methods.multiloss.slides import read_slide_rows

        extra = {"mpp": data.get("mpp")}
        if data.get("class_map"):  # recorded only when given, so earlier runs resume as they were
            extra["class_map"] = data["class_map"]
        return {k: ([Path(data[k])] + [p for r in read_slide_rows(data[k], data.get("class_map"))[0]
                                       for p in (r.image, r.label)],
                    extra)
                for k in ("train_manifest", "val_manifest")}
    path = Path(data["data"])
    files = [path] if path.is_dir() else sorted(p for p in path.parent.iterdir() if p.is_file())
    return {"data": (files, None)}


def steps_per_epoch(ctx) -> int:
    from irpath.data.slide_crops import SlideCrops, crops_per_epoch

    if isinstance(ctx.data[0], SlideCrops):
        return crops_per_epoch(ctx.data[0], ctx.global_batch) // ctx.global_batch
    return math.ceil(len(ctx.data[0]) / ctx.global_batch)


def build_model(ctx):
    """The compiled network of the phase's mode; the joint phase starts from the pre-trained
    classifier when there was a pre-training phase."""
    import keras

    from irpath.models.multiloss import PRIOR_NAME, build_classifier, build_joint_model, build_segmenter

    cfg, train_cfg = ctx.model_cfg, ctx.train_cfg
    kw = network_kwargs(cfg)
    if cfg.mode == "seg":
        model = build_joint_model(None, build_segmenter(**kw["segmenter"]), **kw["joint"])
    elif cfg.mode == "class":
        model = build_joint_model(build_classifier(**kw["classifier"]), None, **kw["joint"])
    else:
        if PRETRAIN in ctx.previous:
            from irpath.inference.loading import load_keras_model

            classifier = load_keras_model(ctx.previous[PRETRAIN].best).get_layer(PRIOR_NAME).classifier
        else:
            classifier = build_classifier(**kw["classifier"])
        keras.utils.set_random_seed(train_cfg.seed + 1)  # the segmenter's own initial weights
        model = build_joint_model(classifier, build_segmenter(**kw["segmenter"]), **kw["joint"])
    return _compile(model, cfg.mode, train_cfg)


def datasets(ctx):
    train, val = ctx.data
    return _datasets(train, val, ctx.model_cfg, ctx.train_cfg, ctx.start_epoch, ctx.global_batch)


def _datasets(train, val, model_cfg, train_cfg, start: int, global_batch: int):
    """``(train_ds, val_ds)`` of the mode's inputs and targets; training from epoch ``start``."""
    mode = model_cfg.mode
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

    from irpath.data.slide_crops import SlideCrops

    if isinstance(train, SlideCrops):
        from irpath.methods.multiloss.slides import slide_datasets

        return slide_datasets(train, val, train_cfg, global_batch=global_batch, start_epoch=start,
                              to_inputs=to_inputs)
    steps = math.ceil(len(train) / global_batch)
    train_ds = make_rgb_dataset(train.images, maps_of(train), crop=crop, batch_size=global_batch,
                                seed=train_cfg.seed, augment=train_cfg.augment_config(),
                                shuffle=True, repeat=True, epoch=start,
                                steps_per_epoch=steps)
    val_ds = make_rgb_dataset(val.images, maps_of(val), crop=crop, batch_size=global_batch,
                              seed=train_cfg.seed + 1, augment=None, shuffle=False)
    return train_ds.map(to_inputs), val_ds.map(to_inputs)


def _compile(model, mode: str, train_cfg: MultiLossTrainConfig):
    from irpath.losses.multiloss import multiloss_compile_args

    model.compile(optimizer=make_optimizer(train_cfg),
                  **multiloss_compile_args(mode, lam=train_cfg.lam,
                                           pixel_reduction=train_cfg.pixel_reduction,
                                           prior_use=train_cfg.prior_use))
    return model

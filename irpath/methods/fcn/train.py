"""The VGG16-FCN's recipe, run by the driver.

Data: :mod:`irpath.methods.fcn.data` (pairs, mirroring, optional noise);
model: :func:`irpath.models.vgg_fcn.build_vgg_fcn` (optionally from a local
VGG16 weights file); loss: :class:`irpath.losses.fcn.SegmentationLoss`
(cross-entropy or λ1 L1 + λ2 L2, plus an optional TV term); optimiser: Adam
whose learning rate decays by ``decay`` once per epoch (staircase), as the
paper's "learning rate 0.0001, learning decay rate 0.96". The run directory,
resume, best-epoch selection (lowest validation loss) and export are the driver's
(:func:`irpath.train.run`).
"""

from __future__ import annotations

from irpath.methods.fcn.config import FcnConfig, FcnTrainConfig, network_kwargs
from irpath.train.run_dir import log


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


def load_data(data: dict, train_cfg: FcnTrainConfig):
    """``(train, val)`` :class:`~irpath.methods.fcn.data.Pairs`, checked: a whole-image
    recipe (no ``--crop``) needs one image size."""
    from pathlib import Path

    from irpath.errors import MissingFileError
    from irpath.data.slide_crops import is_geojson_manifest
    from irpath.methods.fcn.data import read_pairs, read_slide_set, window_of

    if train_cfg.vgg_weights not in (None, "imagenet") and not Path(train_cfg.vgg_weights).is_file():
        raise MissingFileError(f"{train_cfg.vgg_weights}: VGG16 weights file not found")
    if is_geojson_manifest(data["train"]) or is_geojson_manifest(data["val"]):
        train_set = read_slide_set(data["train"], data, train_cfg, train=True)
        val_set = read_slide_set(data["val"], data, train_cfg, train=False)
        log(f"{len(train_set)} training and {len(val_set)} validation slides (QuPath GeoJSON), "
            f"{train_set.crop}-pixel crops at {data.get('mpp') or 'level-0'} µm/px")
        return train_set, val_set
    train_pairs, val_pairs = read_pairs(data["train"]), read_pairs(data["val"])
    window_of(train_pairs, train_cfg.crop, "training")  # one size for whole images, else refuse
    window_of(val_pairs, train_cfg.crop, "validation")
    log(f"{len(train_pairs)} training and {len(val_pairs)} validation images")
    return train_pairs, val_pairs


def fingerprint_inputs(data: dict) -> dict:
    """The images and class maps (or GeoJSON files) of each set; the class map and µm/px."""
    from irpath.methods.fcn.data import list_pairs

    from irpath.data.slide_crops import is_geojson_manifest

    extra = None
    if is_geojson_manifest(data["train"]) or is_geojson_manifest(data["val"]):
        extra = {"class_map": data.get("class_map"), "mpp": data.get("mpp")}
    return {k: ([p for pair in list_pairs(data[k]) for p in pair], extra) for k in ("train", "val")}


def steps_per_epoch(ctx) -> int:
    import math

    from irpath.data.slide_crops import crops_per_epoch
    from irpath.methods.fcn.data import Pairs

    if ctx.train_cfg.steps_per_epoch:
        return int(ctx.train_cfg.steps_per_epoch)
    if not isinstance(ctx.data[0], Pairs):
        return crops_per_epoch(ctx.data[0], ctx.global_batch) // ctx.global_batch
    return math.ceil(len(ctx.data[0]) / ctx.global_batch)


def datasets(ctx):
    from irpath.methods.fcn.data import Pairs, make_datasets, make_slide_datasets

    if not isinstance(ctx.data[0], Pairs):
        return make_slide_datasets(*ctx.data, ctx.train_cfg, global_batch=ctx.global_batch,
                                   start_epoch=ctx.start_epoch)
    train_ds, val_ds, _ = make_datasets(*ctx.data, ctx.train_cfg, global_batch=ctx.global_batch,
                                        start_epoch=ctx.start_epoch)
    return train_ds, val_ds

"""The nuclei network's recipe, run by the driver (:func:`irpath.train.run`).

Data: :mod:`.data` (patches of the training images with whole-image targets,
random crops through the core's joint augmentation; validation on tiles of the
validation images). Model: :func:`irpath.models.resnet_unet.build_resnet34_unet`
(also the inference model). Loss: :class:`irpath.losses.nuclei.NucleiLoss`
(eq. 4). Optimiser: Adam with decoupled weight decay (AdamW). After the fit the
inner threshold is calibrated on the validation images. Run directory, resume,
checkpoints and export are the driver's.
"""

from __future__ import annotations

import sys
import warnings

from irpath.methods.nuclei.config import NucleiConfig, NucleiTrainConfig, network_kwargs
from irpath.train.run_dir import RunDirectory, log

NAME = "nuclei"


def build_model(model_cfg: NucleiConfig, train_cfg: NucleiTrainConfig, *, compile: bool = True):
    """The network of the recipe, compiled with eq. 4 and AdamW (call inside a strategy scope)."""
    import keras

    from irpath.losses.nuclei import NucleiLoss
    from irpath.models.resnet_unet import build_resnet34_unet

    model = build_resnet34_unet(encoder_weights=train_cfg.encoder_weights, **network_kwargs(model_cfg))
    if compile:
        with warnings.catch_warnings():  # train() already said it once, in one line
            warnings.simplefilter("ignore", UserWarning)
            loss = NucleiLoss(beta=train_cfg.beta, vgg_weights=train_cfg.vgg_weights)
        if train_cfg.weight_decay > 0:
            opt = keras.optimizers.AdamW(learning_rate=train_cfg.lr, weight_decay=train_cfg.weight_decay)
        else:
            opt = keras.optimizers.Adam(learning_rate=train_cfg.lr)
        model.compile(optimizer=opt, loss=loss, jit_compile=False)
    return model


def check_data(data: dict, model_cfg: NucleiConfig, train_cfg: NucleiTrainConfig) -> dict:
    """The class map, weight files and image pairs, checked before any training work."""
    from irpath.data.slide_crops import is_geojson_manifest
    from irpath.methods.nuclei import data as nd

    nd.check_weights_file(train_cfg.vgg_weights, "VGG16 weights", "--vgg-weights")
    nd.check_weights_file(train_cfg.encoder_weights, "encoder weights", "--encoder-weights")
    if is_geojson_manifest(data["train"]) or is_geojson_manifest(data["val"]):
        from irpath.methods.nuclei.slides import read_slide_set

        train_set = read_slide_set(data["train"], data, train_cfg, train=True)
        val_set = read_slide_set(data["val"], data, train_cfg, train=False)
        log(f"{len(train_set)} training and {len(val_set)} validation slides (QuPath GeoJSON "
            f"nuclei), {train_set.crop}-pixel crops at {data.get('mpp') or 'level-0'} µm/px")
        return {"slides": (train_set, val_set), "class_map": None}
    class_map = nd.parse_class_map(train_cfg.class_map)
    return {"class_map": class_map, "train": nd.find_pairs(data["train"]), "val": nd.find_pairs(data["val"])}


def fingerprint_inputs(data: dict, train_cfg: NucleiTrainConfig) -> dict:
    """The image and label files of each folder, and the class map."""
    from irpath.methods.nuclei import data as nd

    from irpath.data.slide_crops import is_geojson_manifest

    if is_geojson_manifest(data["train"]) or is_geojson_manifest(data["val"]):
        from irpath.io import read_manifest

        extra = {"class_map": train_cfg.class_map, "mpp": data.get("mpp")}
        return {k: ([p for r in read_manifest(data[k], labels=None) for p in (r.image, r.label)], extra)
                for k in ("train", "val")}
    class_map = nd.parse_class_map(train_cfg.class_map)
    return {k: ([p for pair in nd.find_pairs(data[k]) for p in pair], class_map) for k in ("train", "val")}


def phases(model_cfg: NucleiConfig, train_cfg: NucleiTrainConfig, run) -> tuple:
    """One phase, whose model config keeps the inner threshold a calibrating run recorded."""
    from irpath.train import Phase

    return (Phase(model_cfg=_with_recorded_threshold(run, model_cfg, train_cfg), train_cfg=train_cfg),)


def read_training_data(ctx) -> dict:
    """Training patches with their targets and validation tiles (read once per phase)."""
    from irpath.methods.nuclei import data as nd

    cfg, train_cfg, pairs = ctx.model_cfg, ctx.train_cfg, ctx.data
    if "slides" in pairs:  # file-backed: nothing is read up front
        return {"slides": pairs["slides"]}
    if train_cfg.beta > 0 and train_cfg.vgg_weights is None:
        print("warning: perceptual loss disabled: no --vgg-weights file given (VGG16 weights are "
              "never downloaded); training with the weighted cross-entropy alone", file=sys.stderr)
    if not cfg.is_resnet34:
        log(f"note: encoder {cfg.encoder_blocks} x {cfg.encoder_filters} is not the paper's ResNet34 "
            "(narrower trunks suit small beds and CPU budgets, see models/nuclei-small)")
    log(f"reading {len(pairs['train'])} training and {len(pairs['val'])} validation images")
    images, labels = nd.read_dataset(pairs["train"], class_map=pairs["class_map"], stain=cfg.stain)
    val_images, val_labels = nd.read_dataset(pairs["val"], class_map=pairs["class_map"], stain=cfg.stain)
    patches, targets = nd.training_patches(images, labels, patch=train_cfg.patch,
                                           per_image=train_cfg.patches_per_image)
    val_x, val_y = nd.validation_tiles(val_images, val_labels, tile=train_cfg.crop)
    log(f"{len(patches)} training patches, {len(val_x)} validation tiles of {train_cfg.crop} px")
    return {"patches": patches, "targets": targets, "val_x": val_x, "val_y": val_y}


def steps_per_epoch(ctx) -> int:
    from irpath.methods.nuclei import data as nd

    if "slides" in ctx.prepared:
        from irpath.data.slide_crops import crops_per_epoch

        return nd.steps_per_epoch(crops_per_epoch(ctx.prepared["slides"][0], ctx.global_batch),
                                  ctx.global_batch, ctx.train_cfg.steps_per_epoch)
    return nd.steps_per_epoch(len(ctx.prepared["patches"]), ctx.global_batch, ctx.train_cfg.steps_per_epoch)


def datasets(ctx):
    import tensorflow as tf

    from irpath.methods.nuclei import data as nd

    d, train_cfg = ctx.prepared, ctx.train_cfg
    if "slides" in d:
        from irpath.methods.nuclei.slides import datasets as slide_datasets

        return slide_datasets(*d["slides"], train_cfg, global_batch=ctx.global_batch,
                              start_epoch=ctx.start_epoch, steps=steps_per_epoch(ctx))
    train_ds = nd.train_dataset(d["patches"], d["targets"], crop=train_cfg.crop, batch=ctx.global_batch,
                                seed=train_cfg.seed, augment=train_cfg.augment_config(),
                                epoch=ctx.start_epoch, steps=steps_per_epoch(ctx))
    val_ds = tf.data.Dataset.from_tensor_slices((d["val_x"], d["val_y"])).batch(ctx.global_batch)
    return train_ds, val_ds


def after_fit(ctx) -> None:
    """Calibrate the inner threshold on the validation images (``--inner-threshold calibrate``)."""
    if ctx.train_cfg.calibrate and "slides" in ctx.data:
        log("note: the inner threshold is not calibrated on GeoJSON validation slides (argmax)")
    elif ctx.train_cfg.calibrate:
        calibrate_run(ctx.run, ctx.data["val"], class_map=ctx.train_cfg.class_map)


def _with_recorded_threshold(run: RunDirectory, model_cfg: NucleiConfig,
                             train_cfg: NucleiTrainConfig) -> NucleiConfig:
    """On resume of a calibrating run, the threshold, min_area and split it recorded (so the
    recipe check passes; training then calibrates again)."""
    import dataclasses

    from irpath.config import load_json

    if not (train_cfg.calibrate and run.config.exists()):
        return model_cfg
    saved = load_json(run.config)
    if CALIBRATION_KEY not in saved:
        return model_cfg
    model = saved.get("model", {})
    return dataclasses.replace(model_cfg, inner_threshold=model.get("inner_threshold"),
                               min_area=int(model.get("min_area", model_cfg.min_area)),
                               split=model.get("split", model_cfg.split))


CALIBRATION_KEY = "calibration"


def calibrate_run(run: RunDirectory, val_pairs, *, class_map=None) -> float | None:
    """Choose the post-processing of the run's best model on ``val_pairs`` and record it.

    The choice is :func:`~irpath.methods.nuclei.evaluate.choose_postprocess`'s: the best
    mean object F1 over the inner threshold (the argmax and 0.20-0.95, as ``evaluate
    --calibrate``), the smallest inner part (the recipe's ``min_area``, a half and a
    quarter of it: :func:`~irpath.methods.nuclei.evaluate.min_area_grid`) and the split of
    inner parts (the recipe's, none and 0.1/0.2/0.3/0.5:
    :func:`~irpath.methods.nuclei.evaluate.split_grid`). All three go into the model section
    of ``RUN_DIR/config.json`` (``inner_threshold``, None being the argmax, ``min_area`` and
    ``split``), so the exported model, ``evaluate`` and ``predict`` use them, and the table
    into its ``calibration`` section (with ``recipe_min_area`` and ``recipe_split``, which a
    resumed run calibrates from again).

    Returns:
        The chosen threshold (None: the argmax).
    """
    from irpath.config import load_json, save_json
    from irpath.inference.loading import load_predictor
    from irpath.methods.nuclei.data import parse_class_map
    from irpath.methods.nuclei.evaluate import _predicted, choose_postprocess, min_area_grid, split_grid

    predictor = load_predictor(run.best, NAME)
    cfg = predictor.config
    doc = load_json(run.config)
    recorded = doc.get(CALIBRATION_KEY, {})
    anchor = int(recorded.get("recipe_min_area", cfg.min_area))
    recipe_split = recorded.get("recipe_split", cfg.split)
    val = [(maps, gt) for *_, maps, gt in _predicted(predictor, val_pairs, parse_class_map(class_map),
                                                     tta=False)]
    chosen, min_area, split, table = choose_postprocess(val, min_areas=min_area_grid(anchor), radius=cfg.radius,
                                                        splits=split_grid(recipe_split))
    doc["model"]["inner_threshold"] = chosen
    doc["model"]["min_area"] = min_area
    doc["model"]["split"] = split
    doc[CALIBRATION_KEY] = {"n_images": len(val), "chosen": chosen, "min_area": min_area, "split": split,
                            "recipe_min_area": anchor, "recipe_split": recipe_split, "table": table}
    save_json(run.config, **doc)
    recipe = table[0]  # the argmax at the recipe's min area and split: the grids start there
    log(f"calibrated the post-processing on {len(val)} validation image(s): inner threshold "
        f"{'argmax' if chosen is None else chosen}, min area {min_area} px, split "
        f"{'none' if split is None else split} (F1 {max(r['f1'] for r in table):.3f}; the recipe's argmax "
        f"at {anchor} px, split {'none' if recipe_split is None else recipe_split}: {recipe['f1']:.3f}); "
        f"recorded in {run.config}")
    return chosen

"""Training the nuclei network: the recipe glue around the core run directory.

Data: :mod:`.data` (patches of the training images with whole-image targets,
random crops through the core's joint augmentation; validation on tiles of the
validation images). Model: :func:`irpath.models.resnet_unet.build_resnet34_unet`
(also the inference model). Loss: :class:`irpath.losses.nuclei.NucleiLoss`
(eq. 4). Optimiser: Adam with decoupled weight decay (AdamW). Run directory,
resume, checkpoints and export are the core's (:mod:`irpath.train.run_dir`).
"""

from __future__ import annotations

import sys
import warnings

from irpath.methods.nuclei.config import NucleiConfig, NucleiTrainConfig
from irpath.train.run_dir import RunDirectory, finish, fit, log

NAME = "nuclei"


def build_model(model_cfg: NucleiConfig, train_cfg: NucleiTrainConfig, *, compile: bool = True):
    """The network of the recipe, compiled with eq. 4 and AdamW (call inside a strategy scope)."""
    import keras

    from irpath.losses.nuclei import NucleiLoss
    from irpath.models.resnet_unet import build_resnet34_unet

    model = build_resnet34_unet(encoder_weights=train_cfg.encoder_weights, **model_cfg.model_kwargs())
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


def train(train_dir, val_dir, out_dir, model_cfg: NucleiConfig = NucleiConfig(),
          train_cfg: NucleiTrainConfig = NucleiTrainConfig(), *, strategy=None,
          verbose: int | None = None) -> dict:
    """Train the nuclei network; resumes if ``out_dir`` holds an interrupted run.

    Args:
        train_dir, val_dir: dataset folders (``images/`` + ``labels/``, see :mod:`.data`).
        out_dir: the run directory (created).
        model_cfg, train_cfg: the recipe.
        strategy: a ``tf.distribute`` strategy; default from :func:`make_strategy`.
        verbose: Keras verbosity; default a progress bar on a terminal, else a line per epoch.

    Returns:
        A summary dict (also written to ``out_dir/train_summary.json``).
    """
    from irpath.methods import get_method
    from irpath.methods.nuclei import data

    class_map = data.parse_class_map(train_cfg.class_map)
    data.check_weights_file(train_cfg.vgg_weights, "VGG16 weights", "--vgg-weights")
    data.check_weights_file(train_cfg.encoder_weights, "encoder weights", "--encoder-weights")
    train_pairs, val_pairs = data.find_pairs(train_dir), data.find_pairs(val_dir)
    run = RunDirectory(out_dir)
    model_cfg = _with_recorded_threshold(run, model_cfg, train_cfg)
    run.start(NAME, model_cfg, train_cfg, data={"train": data.fingerprint(train_pairs, class_map),
                                                "val": data.fingerprint(val_pairs, class_map)})
    if train_cfg.beta > 0 and train_cfg.vgg_weights is None:
        print("warning: perceptual loss disabled: no --vgg-weights file given (VGG16 weights are "
              "never downloaded); training with the weighted cross-entropy alone", file=sys.stderr)
    if not model_cfg.is_resnet34:
        log(f"note: encoder {model_cfg.encoder_blocks} x {model_cfg.encoder_filters} is not ResNet34 "
            "(the paper's); use such trunks for tests only")

    log(f"reading {len(train_pairs)} training and {len(val_pairs)} validation images")
    images, labels = data.read_dataset(train_pairs, class_map=class_map, stain=model_cfg.stain)
    val_images, val_labels = data.read_dataset(val_pairs, class_map=class_map, stain=model_cfg.stain)
    patches, targets = data.training_patches(images, labels, patch=train_cfg.patch,
                                             per_image=train_cfg.patches_per_image)
    val_x, val_y = data.validation_tiles(val_images, val_labels, tile=train_cfg.crop)
    log(f"{len(patches)} training patches, {len(val_x)} validation tiles of {train_cfg.crop} px")

    def datasets(global_batch):
        import tensorflow as tf

        steps = data.steps_per_epoch(len(patches), global_batch, train_cfg.steps_per_epoch)
        epoch = int(run.state().get("epoch", 0))  # the epoch fit() resumes at
        train_ds = data.train_dataset(patches, targets, crop=train_cfg.crop, batch=global_batch,
                                      seed=train_cfg.seed, augment=train_cfg.augment_config(),
                                      epoch=epoch, steps=steps)
        val_ds = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(global_batch)
        return train_ds, val_ds

    def build():
        return build_model(model_cfg, train_cfg)

    from irpath.train.strategy import make_strategy

    strategy = strategy or make_strategy()
    global_batch = train_cfg.batch_size * strategy.num_replicas_in_sync
    info = fit(run, build=build, datasets=datasets, epochs=train_cfg.epochs, seed=train_cfg.seed,
               batch_size=train_cfg.batch_size, strategy=strategy, verbose=verbose,
               steps_per_epoch=data.steps_per_epoch(len(patches), global_batch,
                                                    train_cfg.steps_per_epoch),
               lr=train_cfg.lr)
    if train_cfg.calibrate and run.is_writer:
        calibrate_run(run, val_pairs, class_map=train_cfg.class_map)
    return finish(run, get_method(NAME), fit_info=info)


def _with_recorded_threshold(run: RunDirectory, model_cfg: NucleiConfig,
                             train_cfg: NucleiTrainConfig) -> NucleiConfig:
    """On resume of a calibrating run, the threshold it recorded (so the recipe check passes;
    training then calibrates again)."""
    import dataclasses

    from irpath.config import load_json

    if not (train_cfg.calibrate and run.config.exists()):
        return model_cfg
    saved = load_json(run.config)
    if CALIBRATION_KEY not in saved:
        return model_cfg
    return dataclasses.replace(model_cfg, inner_threshold=saved.get("model", {}).get("inner_threshold"))


CALIBRATION_KEY = "calibration"


def calibrate_run(run: RunDirectory, val_pairs, *, class_map=None) -> float | None:
    """Choose the inner threshold of the run's best model on ``val_pairs`` and record it.

    The choice is :func:`~irpath.methods.nuclei.evaluate.choose_inner_threshold`'s (best
    mean object F1 over the argmax and 0.50-0.95, as ``evaluate --calibrate``). It goes
    into the model section of ``RUN_DIR/config.json`` (``inner_threshold``; None is the
    argmax), so the exported model, ``evaluate`` and ``predict`` use it, and the table into
    its ``calibration`` section.

    Returns:
        The chosen threshold (None: the argmax).
    """
    from irpath.config import load_json, save_json
    from irpath.inference.loading import load_predictor
    from irpath.methods.nuclei.data import parse_class_map
    from irpath.methods.nuclei.evaluate import _predicted, choose_inner_threshold

    predictor = load_predictor(run.best, NAME)
    cfg = predictor.config
    val = [(maps, gt) for *_, maps, gt in _predicted(predictor, val_pairs, parse_class_map(class_map),
                                                     tta=False)]
    chosen, table = choose_inner_threshold(val, min_area=cfg.min_area, radius=cfg.radius)
    doc = load_json(run.config)
    doc["model"]["inner_threshold"] = chosen
    doc[CALIBRATION_KEY] = {"n_images": len(val), "chosen": chosen, "table": table}
    save_json(run.config, **doc)
    log(f"calibrated the inner threshold on {len(val)} validation image(s): "
        f"{'argmax' if chosen is None else chosen} (F1 {max(r['f1'] for r in table):.3f}; "
        f"argmax {table[0]['f1']:.3f}); recorded in {run.config}")
    return chosen

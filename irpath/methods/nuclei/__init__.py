"""Joint nuclei segmentation and classification (Qu et al., ISBI 2019).

A ResNet34-encoder U-Net (:mod:`irpath.models.resnet_unet`) predicts five maps:
background, the inner parts of tumour / lymphocyte / stroma nuclei, and the
contours of all nuclei. It is trained with a pixel-weighted cross-entropy (weight
map of eq. 2) plus 0.1 x a VGG16 perceptual loss on the contour map
(:mod:`irpath.losses.nuclei`, :mod:`irpath.losses.perceptual`). Instances come
from the connected inner parts grown back by one pixel.

* :mod:`~irpath.methods.nuclei.labels`: the id-mod-3 label image and instance + type maps;
* :mod:`~irpath.methods.nuclei.targets`: 5-class targets with contours, the weight map;
* :mod:`~irpath.methods.nuclei.postprocess`: maps → instances and their classes;
* :mod:`~irpath.methods.nuclei.config`, :mod:`.data`, :mod:`.train`, :mod:`.evaluate`,
  :mod:`.plots`: the recipe and its glue to the core (run directory, predictor, CLI).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from irpath.methods.base import EvaluateOptions, Method
from irpath.methods.nuclei.config import CLASS_MAP_NAMES, NucleiConfig, NucleiTrainConfig

TRAIN_HELP = """\
Train the joint nuclei segmentation + classification network of Qu et al. (2019):
a U-Net with a ResNet34 encoder predicts 5 maps (background; the inner parts of
tumour, lymphocyte and stroma nuclei; the contours of all nuclei), trained with
the pixel-weighted cross-entropy (eq. 1, weights w = 1 + 10 exp(-(d1+d2)^2/50),
eq. 2) plus beta x a VGG16 perceptual loss on the contour map (eq. 3-4).
Instances are the connected inner parts grown back by --radius px; a nucleus's
class is the majority inner class.

Data (--train, --val): folders with images/NAME.png|tif (RGB; grey images are
read as 3 equal channels) and labels/NAME.png|tif|npy|npz|mat of the same stem
(NAME_label.* works too). Labels are id-mod-3 images (0 background, each nucleus
its own id, class = id % 3: 0 tumour, 1 lymphocyte, 2 stroma) or instance + type
maps (inst_map/type_map in .mat/.npz, or (H, W, 2) .npy) with --class-map
consep|pannuke|FILE.json|"1:tumour,2:lymphocyte,3:stroma".

Paper defaults: 16 overlapping 250x250 patches per training image, random
224x224 crops, augmentation (scale 0.75-1.5, flips, shear, elastic, rotation
+-90 deg), Adam lr 1e-4 with weight decay 1e-4 (AdamW), batch 8, beta 0.1,
300 epochs. --vgg-weights FILE (a local VGG16 include_top=False weights file)
enables the perceptual loss; without it the loss is disabled with a warning
(weights are never downloaded). --encoder-weights FILE (.weights.h5 of the
ResNet34 encoder, e.g. converted ImageNet weights) initialises the encoder.
--stain-reference IMG applies Reinhard colour normalisation to that image's
L*a*b* statistics; they are stored in the model config, so evaluate and predict
normalise the same way. Re-running with the same --out resumes (raise --epochs
to train longer). --config models/nuclei/config.json starts from the recipe.
"""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 comma-separated integers, got {text!r}")
    return values


def _word_or_number(text, words: tuple, high: float, what: str):
    """One of ``words`` (returned as given; None stands for the first) or a number in (0, high)."""
    if text is None or text in words:
        return text if text is not None else words[0]
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {', '.join(words)} or a number in (0, {high:g}), "
                                         f"got {text!r}") from None
    if not 0 < value < high:
        raise argparse.ArgumentTypeError(f"the {what} must be in (0, {high:g}), got {text}")
    return value


def _inner_threshold(text: str):
    """``--inner-threshold``: "calibrate", "argmax" or a number in (0, 1)."""
    return _word_or_number(text, ("calibrate", "argmax"), 1.0, "inner threshold")


def _split(text: str):
    """``--split``: "none" (None) or a seed height H in (0, 2)."""
    value = _word_or_number(text, ("none",), 2.0, "split height")
    return None if value == "none" else value


def stain_from_image(path) -> dict:
    """Reinhard reference statistics (L*a*b* mean/std over non-background pixels) of an image."""
    from irpath.data.rgb import ReinhardStats, background_mask, to_float
    from irpath.io import read_cube

    rgb01 = to_float(np.asarray(read_cube(path).data, np.float32), float_range=255.0)
    background = background_mask(rgb01)
    stats = ReinhardStats.from_image(rgb01, None if background.all() else ~background)
    return {"mean": list(stats.mean), "std": list(stats.std)}



@dataclasses.dataclass(frozen=True)
class NucleiEvaluateOptions(EvaluateOptions):
    """``irpath evaluate nuclei``: the labelled folder, its class map, test-time augmentation,
    the inner threshold (None: the model's) and a validation folder to calibrate it on first."""

    manifest: str | None = None
    class_map: str | None = None
    tta: bool = False
    inner_threshold: float | None = None
    calibrate: str | None = None

class Nuclei(Method):
    name = "nuclei"
    modality = "rgb"
    summary = "joint nuclei segmentation + tumour/lymphocyte/stroma classification (Qu et al. 2019)"
    description = TRAIN_HELP
    config_class = NucleiConfig
    train_config_class = NucleiTrainConfig
    map_names = ("background", "tumour", "lymphocyte", "stroma", "contour")
    result_arrays = ("instances", "classes", "label")
    evaluate_outputs = ("report.json", "instances/", "overlays/")
    evaluate_options = NucleiEvaluateOptions

    model_flags = ("decoder_filters", "dropout", "encoder_blocks", "encoder_filters", "min_area", "radius",
                   "split")
    train_flags = ("weight_decay", "beta", "vgg_weights", "encoder_weights", "patch",
                   "patches_per_image", "crop", "steps_per_epoch", "class_map", "brightness", "contrast")
    flag_help = {"batch_size": "crops per batch and replica", "lr": "Adam learning rate"}

    def add_train_arguments(self, p: argparse.ArgumentParser) -> None:
        d, t = NucleiConfig(), NucleiTrainConfig()
        p.add_argument("--train", metavar="DIR", help="training folder (images/, labels/)")
        p.add_argument("--val", metavar="DIR", help="validation folder (model selection)")
        p.add_argument("--train-manifest", metavar="CSV",
                       help="instead of --train: image,label rows of slides (any image) and QuPath "
                            "GeoJSON files; detection/cell polygons with class names are the nuclei "
                            "(--class-map 'Tumor=tumour,Immune cells=lymphocyte,Stroma=stroma'; "
                            "default QuPath's built-in names), crops read lazily at --mpp")
        p.add_argument("--val-manifest", metavar="CSV", help="instead of --val: the same for validation")
        p.add_argument("--weight-decay", type=float, default=t.weight_decay,
                       help=f"decoupled weight decay, AdamW (default {t.weight_decay:g}; 0: plain Adam)")
        p.add_argument("--beta", type=float, default=t.beta,
                       help=f"weight of the perceptual loss, eq. 4 (default {t.beta})")
        p.add_argument("--vgg-weights", metavar="FILE", default=None,
                       help="local VGG16 (include_top=False) weights for the perceptual loss; "
                            "without it that loss is disabled")
        p.add_argument("--encoder-weights", metavar="FILE", default=None,
                       help="ResNet34 encoder weights (.weights.h5) to start from")
        p.add_argument("--crop", type=int, default=t.crop, help=f"training crop side (default {t.crop})")
        p.add_argument("--patch", type=int, default=t.patch,
                       help=f"side of the overlapping patches per image (default {t.patch})")
        p.add_argument("--patches-per-image", type=int, default=t.patches_per_image,
                       help=f"patches per training image, a square number (default {t.patches_per_image})")
        p.add_argument("--steps-per-epoch", type=int, default=None,
                       help="batches per epoch (default: one pass over the patches)")
        p.add_argument("--stain-reference", metavar="IMG", default=None,
                       help="Reinhard colour normalisation to this image's statistics (default: none)")
        p.add_argument("--class-map", default=None, metavar="MAP",
                       help=f"type -> class mapping for inst_map/type_map labels: {'|'.join(CLASS_MAP_NAMES)}"
                            "|FILE.json|'1:tumour,2:lymphocyte,3:stroma'; for GeoJSON manifests "
                            "QuPath names: 'Tumor=tumour,Immune cells=lymphocyte,Other=ignore'")
        p.add_argument("--no-augment", action="store_true", help="random crops only, no augmentation")
        p.add_argument("--brightness", type=float, default=t.brightness,
                       help="intensity jitter: the largest brightness added to a crop, as a fraction of "
                            f"white (default {t.brightness:g}, the paper's: none)")
        p.add_argument("--contrast", type=float, default=t.contrast,
                       help="intensity jitter: each crop's contrast scaled by a factor in [1 - C, 1 + C] "
                            f"(default {t.contrast:g}, the paper's: none; models/nuclei-small uses it "
                            "for one-channel fluorescence)")
        p.add_argument("--decoder-filters", type=_int_list, default=d.decoder_filters, metavar="A,B,C,D",
                       help="filters of the 4 decoder blocks (default 256,128,64,64)")
        p.add_argument("--dropout", type=float, default=d.dropout,
                       help=f"decoder spatial dropout (default {d.dropout})")
        p.add_argument("--encoder-blocks", type=_int_list, default=d.encoder_blocks, metavar="A,B,C,D",
                       help="blocks per encoder stage (default ResNet34's 3,4,6,3; smaller: tests only)")
        p.add_argument("--encoder-filters", type=_int_list, default=d.encoder_filters, metavar="A,B,C,D",
                       help="filters per encoder stage (default ResNet34's 64,128,256,512)")
        p.add_argument("--min-area", type=int, default=d.min_area,
                       help=f"smallest nucleus inner part kept, px (default {d.min_area}, the paper's; "
                            "with --inner-threshold calibrate, training also tries a half and a quarter "
                            "of it on --val and records the best)")
        p.add_argument("--radius", type=float, default=d.radius,
                       help=f"inner parts grow back by this many px (default {d.radius:g})")
        p.add_argument("--split", type=_split, default=d.split, metavar="none|H",
                       help="split inner parts that hold several nuclei: none (default, the paper's "
                            "connected inner parts) or H > 0, a watershed on the smoothed P(inner) - "
                            "P(contour) seeded at maxima rising more than H; with --inner-threshold "
                            "calibrate, training also tries none, 0.1, 0.2, 0.3 and 0.5 on --val and "
                            "records the best")
        p.add_argument("--inner-threshold", type=_inner_threshold, default="calibrate",
                       metavar="calibrate|argmax|T",
                       help="inner parts of nuclei: calibrate (default: after training, the threshold "
                            "with the best object F1 on the --val images, argmax or 0.20-0.95, as "
                            "`irpath evaluate nuclei --calibrate` picks it, jointly with --min-area, a half "
                            "or a quarter of it; recorded in the run, used by evaluate and predict), argmax (the paper's post-processing) or T in (0, 1): "
                            "pixels whose three inner maps sum to more than T (splits touching nuclei "
                            "whose contour the network draws faintly)")

    negated_flags = {"augment": "no_augment"}

    def args_from_configs(self, model_cfg, train_cfg) -> dict:
        """A recipe file's threshold as the ``--inner-threshold`` choice (calibrate, argmax or T)."""
        out = super().args_from_configs(model_cfg, train_cfg)
        out.pop("calibrate", None)
        if train_cfg is not None and train_cfg.calibrate:
            out["inner_threshold"] = "calibrate"
        elif out.get("inner_threshold") is None:
            out["inner_threshold"] = "argmax"
        return out

    def configs_from_args(self, args):
        model, train = super().configs_from_args(args)
        choice = getattr(args, "inner_threshold", "calibrate")
        model = dataclasses.replace(model, inner_threshold=None if isinstance(choice, str) else choice)
        train = dataclasses.replace(train, calibrate=choice == "calibrate")
        if getattr(args, "stain_reference", None):
            model = dataclasses.replace(model, stain=stain_from_image(args.stain_reference))
        return model, train

    def data_from_args(self, args) -> dict:
        from irpath.errors import ConfigError

        for folder, manifest in (("train", "train_manifest"), ("val", "val_manifest")):
            if (getattr(args, folder, None) is None) == (getattr(args, manifest, None) is None):
                raise ConfigError(f"train nuclei needs exactly one of --{folder} DIR and "
                                  f"--{manifest.replace('_', '-')} CSV")
        return {"train": args.train or args.train_manifest, "val": args.val or args.val_manifest,
                "mpp": getattr(args, "mpp", None)}

    # -- training (run by irpath.train.run) ---------------------------------------------
    def load_data(self, data, model_cfg, train_cfg, run):
        from irpath.methods.nuclei.train import check_data

        return check_data(data, model_cfg, train_cfg)

    def fingerprint_inputs(self, data, model_cfg, train_cfg) -> dict:
        from irpath.methods.nuclei.train import fingerprint_inputs

        return fingerprint_inputs(data, train_cfg)

    def phases(self, model_cfg, train_cfg, run) -> tuple:
        from irpath.methods.nuclei.train import phases

        return phases(model_cfg, train_cfg, run)

    def prepare_run(self, ctx):
        from irpath.methods.nuclei.train import read_training_data

        return read_training_data(ctx)

    def steps_per_epoch(self, ctx) -> int:
        from irpath.methods.nuclei.train import steps_per_epoch

        return steps_per_epoch(ctx)

    def build_model(self, ctx):
        from irpath.methods.nuclei.train import build_model

        return build_model(ctx.model_cfg, ctx.train_cfg)

    def datasets(self, ctx):
        from irpath.methods.nuclei.train import datasets

        return datasets(ctx)

    def after_fit(self, ctx) -> None:
        from irpath.methods.nuclei.train import after_fit

        after_fit(ctx)

    def stain(self, cfg) -> dict | None:
        return cfg.stain

    def threshold(self, cfg, threshold: float | None = None) -> float | None:
        """The inner-part threshold: ``threshold`` (checked) or the config's
        ``inner_threshold``; None means the argmax (the paper)."""
        if threshold is None:
            return cfg.inner_threshold
        return super().threshold(cfg, threshold)

    def postprocess(self, maps, prepared, cfg, *, threshold=None) -> dict:
        """Instances (``instances``, int32), the per-pixel class map (``classes``: 0
        background, 1 tumour, 2 lymphocyte, 3 stroma; uint8) and the id-mod-3 label
        (``label``, int32); per-class counts in the summary. ``threshold`` overrides
        the config's ``inner_threshold``."""
        from irpath.methods.nuclei.labels import encode_label
        from irpath.methods.nuclei.postprocess import postprocess

        inst, classes, class_image = postprocess(np.asarray(maps), min_area=cfg.min_area, radius=cfg.radius,
                                                 inner_threshold=self.threshold(cfg, threshold), split=cfg.split)
        counts = np.bincount(np.fromiter(classes.values(), int, len(classes)), minlength=3)
        summary = {"nuclei": len(classes)}
        summary.update({name: int(n) for name, n in zip(self.map_names[1:4], counts)})
        return {"arrays": {"instances": inst, "classes": class_image, "label": encode_label(inst, classes)},
                "summary": summary, "classes": classes}

    def geojson_features(self, result, maps, prepared, cfg, *, mpp=None, simplify=None, threshold=None):
        """One classified detection per nucleus: see :mod:`.postprocess`."""
        from irpath.inference.geojson_export import geojson_options
        from irpath.io.geojson import feature_collection
        from irpath.methods.nuclei.postprocess import geojson_features

        return feature_collection(geojson_features(result["arrays"]["instances"], result.get("classes", {}),
                                                   maps, simplify=simplify, **geojson_options(prepared, mpp)))

    def plot_prediction(self, prepared, maps, result, path, *, title="", threshold=None) -> None:
        from irpath.methods.nuclei.plots import plot_nuclei

        s = result.get("summary", {})
        plot_nuclei(prepared.display, result["arrays"]["instances"], result.get("classes", {}), path,
                    title=f"{title.split(':')[0]}: {s.get('nuclei', 0)} nuclei")

    def add_evaluate_arguments(self, group) -> None:
        group.add_argument("--data", metavar="DIR", default=None,
                           help="nuclei: a dataset folder (images/, labels/)")
        group.add_argument("--manifest", metavar="CSV|DIR", default=None,
                           help="nuclei: instead of --data, image,label rows of slides and QuPath "
                                "GeoJSON (detection/cell polygons are the nuclei; --class-map "
                                "'Tumor=tumour,...'), scored against the rasterised instances")
        group.add_argument("--class-map", default=None, metavar="MAP",
                           help="nuclei: type -> class mapping for inst_map/type_map labels "
                                f"({'|'.join(CLASS_MAP_NAMES)}|FILE.json|'1:tumour,...')")
        group.add_argument("--tta", action="store_true", default=None,
                           help="nuclei: average the maps over the 8 flips / 90° turns")
        group.add_argument("--inner-threshold", type=float, default=None, metavar="T",
                           help="nuclei: inner parts = the three inner maps summing to more than T "
                                "(default: the model's; the paper's argmax unless trained with one)")
        group.add_argument("--calibrate", metavar="VAL_DIR", default=None,
                           help="nuclei: first pick the inner threshold (argmax or 0.20-0.95) with the "
                                "best object F1 on these validation images, then evaluate --data with it")

    def evaluate(self, predictor, options, out_dir) -> dict:
        from irpath.errors import ConfigError
        from irpath.methods.nuclei.evaluate import evaluate

        data = options.manifest or options.data
        if not data:
            raise ConfigError("evaluate nuclei needs --data DIR (a folder with images/ and labels/) "
                              "or --manifest CSV (image + QuPath GeoJSON rows)")
        return evaluate(predictor, data, out_dir, class_map=options.class_map, tta=options.tta,
                        inner_threshold=options.inner_threshold, calibrate=options.calibrate,
                        memory_limit=options.memory_limit, geojson=options.geojson, simplify=options.simplify,
                        mpp=options.mpp)

    def brief(self, report: dict) -> dict:
        a = report.get("all", {})
        out = {"n_images": report.get("n_images")}
        out.update({k: a.get(k) for k in ("f1", "dice", "hausdorff", "aji", "pq", "accuracy")})
        out["inner_threshold"] = report.get("inner_threshold")
        return out


METHOD = Nuclei()

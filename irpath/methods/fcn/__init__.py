"""VGG16-FCN (Abdulhamid): cancer / stroma / background segmentation of H&E images.

The pieces live where the house layout puts them: the network in
:mod:`irpath.models.vgg_fcn`, the losses in :mod:`irpath.losses.fcn`, the
colour-coded labels in :mod:`irpath.io.colour_labels`; :mod:`.data`,
:mod:`.train` and :mod:`.evaluate` are the glue. Class order everywhere:
0 cancer, 1 stroma, 2 background.
"""

from __future__ import annotations

import argparse
import dataclasses

from irpath.io.colour_labels import CLASS_NAMES
from irpath.methods.base import EvaluateOptions, Method
from irpath.methods.fcn.config import DECODERS, LOSSES, FcnConfig, FcnTrainConfig

TRAIN_HELP = """\
Train the VGG16 fully convolutional network of Abdulhamid ("Semantic
segmentation with histological image data: cancer cell vs. stroma"): VGG16
layers up to --cut (default block3_conv2, the final model of Fig. 6, features at
1/4 resolution; block2_conv2 is Experiments 1-3), then the decoder of the chosen
figure (3x3 convolutions and 2x2 stride-2 transposed convolutions, ReLU after
each) ending in a 3-class softmax: cancer, stroma, background. Any image size
works (inputs are padded to a multiple of 4 and cropped back).

Data (--train-manifest / --val-manifest, each either):
  a manifest CSV with the columns image,label (paths relative to the CSV), or
  a folder holding images/ and labels/ (pairs matched by file stem).
A manifest's labels may instead be QuPath GeoJSON files (image,label rows
such as slides/A.svs,annotations/A.geojson): region annotations are mapped to
the classes by --class-map, crops (--crop, default 256) are read lazily from
the slides inside the annotated regions at --mpp, and unannotated pixels do
not count in the loss.
Labels are otherwise colour-coded images: red = cancer, green = stroma, black =
background; each pixel takes the nearest of the three colours (JPEG labels
decode), and a colour far from all three is an error naming the file.

Defaults are the paper's (Sec. 4.2, 6.1): Adam, lr 1e-4 decayed by 0.96 per
epoch, batch 4, softmax cross-entropy, whole images (the paper's are 1128 x
720; whole-image training needs one size, else pass --crop N to train on
random N x N crops), random mirroring about the x and the y axis, 10 epochs
(the paper: 5-10). Options the paper proposes but did not use: --tv-weight
(total-variation smoothing of the probability maps, Sec. 6.2) and --noise-std
(Gaussian noise on the images, Sec. 4.2). --loss l1l2 uses l1*L1 + l2*L2
between the one-hot label and the probabilities (Sec. 4.3). --vgg-weights
starts the encoder from a local VGG16 .weights.h5 file (saved by
keras.applications.VGG16(weights=None).save_weights; nothing is downloaded).

The epoch with the lowest validation loss is kept (RUN_DIR/segmenter.keras,
RUN_DIR/saved_model). Re-running with the same --out resumes (raise --epochs to
train longer). --config models/fcn/config.json starts from the recipe file;
flags given on the command line override it.
"""



@dataclasses.dataclass(frozen=True)
class FcnEvaluateOptions(EvaluateOptions):
    """``irpath evaluate fcn``: the labelled images (``--manifest``; ``--data`` also works)."""

    manifest: str | None = None
    class_map: str | None = None

class VggFcn(Method):
    name = "fcn"
    modality = "rgb"
    summary = "VGG16-FCN cancer / stroma / background segmentation of H&E images (Abdulhamid)"
    description = TRAIN_HELP
    config_class = FcnConfig
    train_config_class = FcnTrainConfig
    map_names = CLASS_NAMES
    result_arrays = ("classes",)
    evaluate_outputs = ("report.json", "predictions/", "overlays/")
    evaluate_options = FcnEvaluateOptions

    # -- command line ------------------------------------------------------------------
    def add_train_arguments(self, p: argparse.ArgumentParser) -> None:
        d, t = FcnConfig, FcnTrainConfig  # class defaults: no config is built for --help
        p.add_argument("--train-manifest", required=True, metavar="CSV|DIR",
                       help="training images: an image,label manifest or an images/ + labels/ folder")
        p.add_argument("--val-manifest", required=True, metavar="CSV|DIR",
                       help="validation images (selects the best epoch), same layouts")
        p.add_argument("--class-map", default=None, metavar="MAP",
                       help="QuPath class names -> fcn classes for GeoJSON labels, e.g. "
                            "'Tumor=cancer,Stroma=stroma,Other=background' (Name=ignore skips a "
                            "class; default: QuPath's Tumor, Stroma, Other, Necrosis, Immune cells); "
                            "unmapped names are refused")
        p.add_argument("--decay", type=float, default=t.decay,
                       help=f"learning-rate decay factor per epoch (default {t.decay})")
        p.add_argument("--loss", choices=LOSSES, default=t.loss,
                       help=f"softmax cross-entropy or l1*L1 + l2*L2 (default {t.loss})")
        p.add_argument("--l1", type=float, default=t.l1, help=f"λ1 of --loss l1l2 (default {t.l1})")
        p.add_argument("--l2", type=float, default=t.l2, help=f"λ2 of --loss l1l2 (default {t.l2})")
        p.add_argument("--tv-weight", type=float, default=t.tv_weight,
                       help=f"weight of the total-variation smoothing term (default {t.tv_weight})")
        p.add_argument("--crop", type=int, default=t.crop, metavar="N",
                       help="train on random N x N crops (default: whole images, as the paper)")
        p.add_argument("--no-mirror", action="store_true",
                       help="no random mirroring about the x and y axes")
        p.add_argument("--noise-std", type=float, default=t.noise_std,
                       help="std of Gaussian noise added to training images, grey levels 0..255 "
                            f"(default {t.noise_std}: none)")
        p.add_argument("--vgg-weights", metavar="PATH", default=t.vgg_weights,
                       help="VGG16 weights to start the encoder from: a local file in either Keras "
                            "layout (Keras 3 .weights.h5, or the legacy vgg16_weights_tf_dim_ordering_"
                            "tf_kernels_notop.h5 in ~/.keras/models), or 'imagenet' (Keras downloads "
                            "and caches it; needs the network) (default: random)")
        p.add_argument("--cut", default=d.cut, metavar="LAYER",
                       help=f"last VGG16 layer of the encoder (default {d.cut}; block2_conv2 for "
                            "Experiments 1-3)")
        p.add_argument("--decoder", default=d.decoder, metavar="|".join(DECODERS) + "|LAYERS",
                       help="decoder of Fig. 6 (final) or Figs. 3-5 (exp1-3), or custom LAYERS such "
                            "as up:2:16,conv:3:16 (default: final for stride-4 cuts, exp3 for "
                            "stride-2 cuts)")
        p.add_argument("--decoder-filters", type=int, nargs="+", default=d.decoder_filters,
                       metavar="F", help="filters per decoder layer (default: the figure's)")
        p.add_argument("--freeze-encoder", action="store_true", help="keep the VGG16 layers fixed")

    model_flags = ("cut", "decoder", "decoder_filters", "freeze_encoder")
    train_flags = ("decay", "loss", "l1", "l2", "tv_weight", "crop", "noise_std", "vgg_weights")
    flag_help = {"batch_size": "images (or crops) per batch and replica", "lr": "Adam learning rate",
                 "seed": "weights, order, crops, flips, noise"}

    negated_flags = {"mirror": "no_mirror"}

    def data_from_args(self, args) -> dict:
        return {"train": args.train_manifest, "val": args.val_manifest,
                "class_map": getattr(args, "class_map", None), "mpp": getattr(args, "mpp", None)}

    # -- training (run by irpath.train.run) ---------------------------------------------
    def load_data(self, data, model_cfg, train_cfg, run):
        from irpath.methods.fcn.train import load_data

        return load_data(data, train_cfg)

    def fingerprint_inputs(self, data, model_cfg, train_cfg) -> dict:
        from irpath.methods.fcn.train import fingerprint_inputs

        return fingerprint_inputs(data)

    def steps_per_epoch(self, ctx) -> int:
        from irpath.methods.fcn.train import steps_per_epoch

        return steps_per_epoch(ctx)

    def learning_rate(self, ctx):
        from irpath.methods.fcn.train import learning_rate

        return learning_rate(ctx.train_cfg, self.steps_per_epoch(ctx))

    def build_model(self, ctx):
        from irpath.methods.fcn.train import build_model

        return build_model(ctx.model_cfg, ctx.train_cfg, self.steps_per_epoch(ctx))

    def datasets(self, ctx):
        from irpath.methods.fcn.train import datasets

        return datasets(ctx)

    # -- inference ---------------------------------------------------------------------
    def output_names(self, cfg) -> tuple[str, ...]:
        return tuple(CLASS_NAMES)

    def postprocess(self, maps, prepared, cfg, *, threshold=None) -> dict:
        """``classes``: the (H, W) int32 argmax class map; the fraction of each class."""
        from irpath.methods.fcn.postprocess import postprocess

        return postprocess(maps, CLASS_NAMES)

    def geojson_features(self, result, maps, prepared, cfg, *, mpp=None, simplify=None, threshold=None):
        """One MultiPolygon annotation per class (cancer, stroma): see :mod:`.postprocess`."""
        from irpath.inference.geojson_export import geojson_options
        from irpath.io.geojson import feature_collection
        from irpath.methods.fcn.postprocess import geojson_features

        return feature_collection(geojson_features(result["arrays"]["classes"], maps, CLASS_NAMES,
                                                   simplify=simplify, **geojson_options(prepared, mpp)))

    def plot_prediction(self, prepared, maps, result, path, *, title="", threshold=None) -> None:
        """``path``: image, prediction and overlay; ``<stem>_classes.png``: the colour-coded
        classes (red cancer, green stroma, black background), one pixel per pixel."""
        from pathlib import Path

        from irpath.io.colour_labels import write_colour_labels
        from irpath.methods.fcn.evaluate import argmax_classes, plot_classes

        classes = result.get("arrays", {}).get("classes")
        classes = argmax_classes(maps) if classes is None else classes
        path = Path(path)
        write_colour_labels(path.with_name(f"{path.stem}_classes.png"), classes)
        plot_classes(prepared.display, classes, path, title=title)

    def add_evaluate_arguments(self, group) -> None:
        group.add_argument("--manifest", metavar="CSV|DIR", default=None,
                           help="fcn: image,label manifest or images/ + labels/ folder (labels may "
                                "be QuPath GeoJSON: only annotated pixels are scored)")
        group.add_argument("--class-map", default=None, metavar="MAP",
                           help="fcn: QuPath class names -> classes for GeoJSON labels, e.g. "
                                "'Tumor=cancer,Stroma=stroma' (default: QuPath's built-in names)")

    def evaluate(self, predictor, options, out_dir) -> dict:
        from irpath.errors import ConfigError
        from irpath.methods.fcn.evaluate import evaluate

        data = options.manifest or options.data
        if not data:
            raise ConfigError("evaluate fcn needs --manifest CSV|DIR (labelled images: an image,label "
                              "manifest or an images/ + labels/ folder)")
        return evaluate(predictor, data, out_dir, class_map=options.class_map, geojson=options.geojson,
                        simplify=options.simplify, mpp=options.mpp, memory_limit=options.memory_limit,
                        tile_limit=options.tile_limit)

    def brief(self, report: dict) -> dict:
        out = {k: report.get(k) for k in ("n_images", "pixel_accuracy", "mean_iou", "mean_dice",
                                          "mean_cross_entropy")}
        out.update({f"iou_{n}": report.get("iou", {}).get(n) for n in CLASS_NAMES})
        return out


METHOD = VggFcn()

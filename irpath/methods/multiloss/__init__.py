"""Multi-loss joint classification + segmentation of glands (BenTaieb et al., ISBI 2016).

A classifier (benign / malignant) is pre-trained; the derivative of its class
score with respect to its pooling layers (:class:`irpath.layers.saliency_prior.SaliencyPrior`)
gives a class-specific spatial prior f, which the segmenter takes with the image
and the class scores and which weights its loss (eq. 4); then the whole network
is trained with λ L_c + (1 - λ) L_s (eq. 5). The pieces live where the house
layout puts them: :mod:`irpath.models.multiloss`, :mod:`irpath.losses.multiloss`,
:mod:`irpath.io.glas`; :mod:`.data`, :mod:`.train` and :mod:`.evaluate` are the glue.
"""

from __future__ import annotations

import argparse

import numpy as np

from irpath.methods.base import Method
from irpath.methods.multiloss.config import MultiLossConfig, MultiLossTrainConfig, OPTIMIZERS

TRAIN_HELP = """\
Train the multi-loss network of BenTaieb et al. (2016): a classifier (benign /
malignant) whose class-specific saliency prior f = mean_k upsample(max_c |dQ_l/dz_k|)
is fed to a segmenter (gland / background) and weights its loss (eq. 4):
by default each pixel's cross-entropy is weighted by 1 + S_j f_j (--prior-use
weight); --prior-use target is eq. 4 as printed, the soft target S_j f_j, which
with f in [0, 1] makes argmax P call gland pixels with f < 0.5 background
(models/multiloss/README.md). Joint loss L = lambda L_c + (1 - lambda) L_s
(eq. 5). --mode joint pre-trains the classifier
(--pretrain-epochs, resumable, in RUN_DIR/classifier/) and then trains everything;
--mode class / seg train one component (Table 1's rows).

Data (--data):
  a GlaS / Warwick-QU folder: <name>.bmp, <name>_anno.bmp (instance labels) and
    Grade.csv (grade (GlaS): benign / malignant). As in Sec. 3.1 images are resized
    to --resize (500) and cut into non-overlapping --tile (250) tiles; the images
    are split 70/10/20 by image (--seed), recorded in RUN_DIR/split.json: train on
    the train part, select the epoch on the val part; `irpath evaluate multiloss`
    uses the test part.
  a manifest CSV with columns image,label,class (paths relative to the CSV;
    label = instance or 0/1 gland label image; class = benign|malignant or 0|1):
    1/8 of its images (by image) are held out for validation.
Or (--train-manifest / --val-manifest, instead of --data) image,label[,grade]
  rows of slides (any image) and QuPath GeoJSON files: annotation polygons are the
  glands (instances), the grade (benign/malignant, 0/1) comes from the grade column
  or else the FeatureCollection's "grade" (or "class") property; crops are read
  lazily from the slides inside the glands at --mpp (no split.json).
Training samples are random --crop (224) crops, jointly augmented (affine,
elastic, colour; irpath.data.joint_augment).

Defaults are the paper's where it gives them: lambda 0.5, batch 1, crops of
224, resize 500 / tiles 250, split 70/10/20, ~20,000 iterations (83 epochs of
240 GlaS training tiles). Not in the paper (irpath's choices,
models/multiloss/README.md): Adam at lr 1e-4 (the paper's SGD with momentum
0.99 at batch 1 left the classifier at chance on GlaS-like glands; it stays as
--config models/multiloss/paper.json), 20 pre-training epochs, 32 filters,
depth 4. Re-running with the same --out resumes (raise --epochs to
train longer). --config models/multiloss/config.json starts from the recipe
file; flags given on the command line override it.
"""


class MultiLoss(Method):
    name = "multiloss"
    modality = "rgb"
    summary = "joint gland classification + segmentation with a saliency prior (BenTaieb et al. 2016)"
    description = TRAIN_HELP
    config_class = MultiLossConfig
    train_config_class = MultiLossTrainConfig
    map_names = ("p_gland", "p_background", "prior", "score_benign", "score_malignant")  # joint mode
    result_arrays = ("inst",)
    evaluate_outputs = ("report.json", "figures/")
    run_outputs = ("split.json", "classifier/")

    # -- command line ------------------------------------------------------------------
    def add_train_arguments(self, p: argparse.ArgumentParser) -> None:
        d, t = MultiLossConfig(), MultiLossTrainConfig()
        p.add_argument("--data", metavar="GLAS_DIR|MANIFEST",
                       help="a GlaS folder or an image,label,class manifest CSV")
        p.add_argument("--train-manifest", metavar="CSV",
                       help="instead of --data: image,label[,grade] rows of slides (any image) and "
                            "QuPath GeoJSON files; annotation polygons are the glands, the grade "
                            "(benign/malignant) from the grade column or the FeatureCollection's "
                            "'grade' (or 'class') property; crops read lazily at --mpp")
        p.add_argument("--val-manifest", metavar="CSV",
                       help="with --train-manifest: the same for validation")
        p.add_argument("--mode", choices=("joint", "class", "seg"), default=d.mode,
                       help=f"what to train (Table 1): joint, class or seg (default {d.mode})")
        p.add_argument("--pretrain-epochs", type=int, default=t.pretrain_epochs,
                       help=f"classifier pre-training epochs, joint mode (default {t.pretrain_epochs})")
        p.add_argument("--lambda", dest="lam", type=float, default=t.lam,
                       help=f"λ of eq. 5 (default {t.lam})")
        p.add_argument("--optimizer", choices=OPTIMIZERS, default=t.optimizer,
                       help=f"optimiser (default {t.optimizer})")
        p.add_argument("--momentum", type=float, default=t.momentum,
                       help=f"SGD momentum (default {t.momentum})")
        p.add_argument("--crop", type=int, default=t.crop, help=f"training crop side (default {t.crop})")
        p.add_argument("--resize", type=int, default=t.resize,
                       help=f"GlaS images are resized to this side (default {t.resize})")
        p.add_argument("--tile", type=int, default=t.tile,
                       help=f"non-overlapping tile side after resizing (default {t.tile})")
        p.add_argument("--filters", type=int, default=d.filters,
                       help=f"first-level filters (default {d.filters})")
        p.add_argument("--depth", type=int, default=d.depth, help=f"poolings per component "
                                                                   f"(default {d.depth})")
        p.add_argument("--score", choices=("probability", "logit"), default=d.score,
                       help="prior from dQ (probability, eq. 3) or from the logit (class-specific "
                            f"with 2 classes) (default {d.score})")
        p.add_argument("--prior-entry", choices=("concat", "zero_branch"), default=d.prior_entry,
                       help="how the prior and class scores join the image in the segmenter: stacked "
                            "as extra input channels (concat) or through their own zero-initialised "
                            "convolution, so the joint segmenter starts as the seg-only one "
                            f"(zero_branch) (default {d.prior_entry})")
        p.add_argument("--prior-use", choices=("target", "weight"), default=t.prior_use,
                       help="1 + S·f as a pixel weight (weight) or eq. 4's S·f as the soft "
                            f"target (target, as printed) (default {t.prior_use})")
        p.add_argument("--no-augment", action="store_true", help="no augmentation (crops only)")

    model_flags = ("mode", "filters", "depth", "score", "prior_entry")
    train_flags = ("pretrain_epochs", "lam", "optimizer", "momentum", "crop", "resize", "tile",
                   "prior_use")
    flag_help = {"epochs": "epochs of the main phase", "batch_size": "crops per batch and replica",
                 "seed": "split, weights, order"}

    negated_flags = {"augment": "no_augment"}

    def data_from_args(self, args) -> dict:
        from irpath.errors import ConfigError

        manifests = (getattr(args, "train_manifest", None), getattr(args, "val_manifest", None))
        if (args.data is None) == (manifests[0] is None) or (manifests[0] is None) != (manifests[1] is None):
            raise ConfigError("train multiloss needs exactly one of --data GLAS_DIR|MANIFEST and "
                              "--train-manifest CSV with --val-manifest CSV")
        if args.data is not None:
            return {"data": args.data}
        return {"train_manifest": manifests[0], "val_manifest": manifests[1],
                "mpp": getattr(args, "mpp", None)}

    def tile_align(self, cfg) -> int:
        """Tiles are multiples of 2**depth, as the U-Net's poolings need."""
        return 2 ** int(cfg.depth)

    def output_names(self, cfg) -> tuple[str, ...]:
        """The inference maps of ``cfg.mode`` (joint: p_gland, p_background, prior,
        score_benign, score_malignant; scores as constant planes)."""
        return tuple(cfg.channels)

    # -- training (run by irpath.train.run) ---------------------------------------------
    def phases(self, model_cfg, train_cfg, run) -> tuple:
        from irpath.methods.multiloss.train import phases

        return phases(model_cfg, train_cfg)

    def load_data(self, data, model_cfg, train_cfg, run):
        from irpath.methods.multiloss.train import load_data

        return load_data(data, train_cfg, run)

    def fingerprint_inputs(self, data, model_cfg, train_cfg) -> dict:
        from irpath.methods.multiloss.train import fingerprint_inputs

        return fingerprint_inputs(data)

    def steps_per_epoch(self, ctx) -> int:
        from irpath.methods.multiloss.train import steps_per_epoch

        return steps_per_epoch(ctx)

    def build_model(self, ctx):
        from irpath.methods.multiloss.train import build_model

        return build_model(ctx)

    def datasets(self, ctx):
        from irpath.methods.multiloss.train import datasets

        return datasets(ctx)

    def inference_model(self, model):
        from irpath.models.multiloss import inference_model

        return model if len(model.inputs) == 1 and model.name.endswith("_inference") \
            else inference_model(model)

    # -- inference ---------------------------------------------------------------------
    def postprocess(self, maps, prepared, cfg, *, threshold=None) -> dict:
        """Gland instances (``inst``, int32) and the class: see :mod:`.postprocess`."""
        from irpath.methods.multiloss.postprocess import postprocess

        return postprocess(maps, cfg.mode)

    def geojson_features(self, result, maps, prepared, cfg, *, mpp=None, simplify=None, threshold=None):
        """One annotation per gland, the image's class as a collection property: see :mod:`.postprocess`."""
        from irpath.inference.geojson_export import geojson_options
        from irpath.io.geojson import feature_collection
        from irpath.methods.multiloss.postprocess import geojson_features

        features, props = geojson_features(result, maps, cfg.mode, simplify=simplify,
                                           **geojson_options(prepared, mpp))
        return feature_collection(features, props)

    def plot_prediction(self, prepared, maps, result, path, *, title="", threshold=None) -> None:
        from irpath.methods.multiloss.evaluate import plot_glands, split_maps

        mode = "joint" if maps.shape[-1] == 5 else ("seg" if maps.shape[-1] == 2 else "class")
        parts = split_maps(np.asarray(maps), mode)
        cls = result.get("summary", {}).get("class")
        plot_glands(prepared.display, None, parts["prior"], result.get("arrays", {}).get("inst"), path,
                  title=title + (f" ({cls})" if cls else ""))

    def add_evaluate_arguments(self, group) -> None:
        group.add_argument("--data", metavar="GLAS_DIR|MANIFEST", default=None,
                           help="multiloss: a GlaS folder (the test part of the run's split.json) "
                                "or an image,label,class manifest (every row)")

    def evaluate(self, predictor, options, out_dir) -> dict:
        from irpath.errors import ConfigError
        from irpath.methods.multiloss.evaluate import evaluate

        if not options.data:
            raise ConfigError("evaluate multiloss needs --data GLAS_DIR|MANIFEST (the labelled images)")
        return evaluate(predictor, options.data, out_dir, geojson=options.geojson, simplify=options.simplify,
                        mpp=options.mpp, memory_limit=options.memory_limit)

    def brief(self, report: dict) -> dict:
        out = {k: report.get(k) for k in ("mode", "n_images", "class_accuracy", "pixel_accuracy")}
        for c in ("benign", "malignant"):
            for k in ("object_dice", "object_f1", "object_hausdorff"):
                out[f"{c}_{k}"] = report.get(c, {}).get(k)
        return out


METHOD = MultiLoss()

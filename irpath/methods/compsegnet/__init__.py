"""CompSegNet (Schuhmacher et al. 2019): a U-Net trained from spot labels through a pooling neuron.

The method's pieces live where the house layout puts them: the network in
:mod:`irpath.models.compsegnet`, the pooling neuron in :mod:`irpath.layers`, the
comparative loss in :mod:`irpath.losses`. Here: :mod:`.config` (the recipe and its
mapping to the builder), :mod:`.data` and :mod:`.batch_augment` (the comparative
spot stream), :mod:`.optimizer` (the paper's RMSprop), :mod:`.train` (the recipe the
driver runs) and :mod:`.evaluate` (the paper's spot-level evaluation).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from irpath.methods.base import EvaluateOptions, Method
from irpath.methods.compsegnet.config import (CACHE_DTYPES, LOSSES, LR_SCHEDULES, NORMALISATIONS,
                                              CompSegNetConfig, CompSegNetTrainConfig)

TRAIN_HELP = """\
Train CompSegNet from spot-level labels only (1 = cancer, 0 = cancer-free).
Every mini-batch holds cancer and cancer-free spots; the U-Net's sigmoid map is
pooled over tissue pixels by the neuron σ_{α,β,γ} and trained with
Σ|o(I) − α·ℓ|. The model with the lowest validation loss is kept and its U-Net
saved as RUN_DIR/segmenter.keras.

Re-running with the same --out resumes from the last finished epoch (raise
--epochs to train longer). With more than one GPU visible, training runs under
tf.distribute.MirroredStrategy and the global batch is --batch-size x GPUs.
Defaults are the paper's: 64 filters, depth 4, RMSprop lr 1e-3, k = 7, 400 epochs;
irpath adds batch normalisation and starts the map at α/β so training does not
collapse (models/compsegnet/README.md). On a 2-core CPU the full-size U-Net takes
~20 s per epoch for 60 spots of 64 x 64. --config models/compsegnet/config.json
starts from a recipe file; flags given on the command line override it.
"""


@dataclasses.dataclass(frozen=True)
class CompSegNetEvaluateOptions(EvaluateOptions):
    """``irpath evaluate compsegnet``: the test manifest, the threshold (None: the model's)
    and test-time augmentation."""

    manifest: str | None = None
    threshold: float | None = None
    tta: bool = False


class CompSegNet(Method):
    name = "compsegnet"
    modality = "ir"
    summary = "weakly supervised IR tumour segmentation from spot labels (Schuhmacher et al. 2019)"
    description = TRAIN_HELP
    config_class = CompSegNetConfig
    train_config_class = CompSegNetTrainConfig
    map_names = ("tumour",)
    evaluate_outputs = ("report.json", "roc.png", "maps/", "overlays/", "cache/")
    evaluate_options = CompSegNetEvaluateOptions
    evaluate_help = ("As in the CompSegNet paper, activation maps are thresholded (default 0.35), each "
                     "spot's tumour fraction (active tissue pixels / tissue pixels) is scored against "
                     "its label by ROC (spot-level AUC), and Dice is computed between the thresholded "
                     "map and the manifest's mask over cancer spots. auc_pooled ranks the spots by their "
                     "pooled activation instead (the mean of the map over the tissue, the input of the "
                     "pooling neuron; no threshold). Writes EVAL_DIR/report.json (auc, auc_pooled, "
                     "dice_mean, dice_std, threshold, per-spot list), roc.png (both ROC curves), "
                     "overlays/*.png and maps/*.npy.")

    def add_train_arguments(self, p: argparse.ArgumentParser) -> None:
        d, t = CompSegNetConfig(), CompSegNetTrainConfig()
        p.add_argument("--train-manifest", required=True, metavar="CSV",
                       help="training spots (image,label[,mask][,tissue])")
        p.add_argument("--val-manifest", required=True, metavar="CSV",
                       help="validation spots (model selection)")
        p.add_argument("--filters", type=int, default=d.filters,
                       help=f"U-Net filters at the first level (default {d.filters})")
        p.add_argument("--depth", type=int, default=d.depth, help=f"U-Net poolings (default {d.depth})")
        p.add_argument("--alpha", type=float, default=d.alpha,
                       help=f"σ upper bound α = minimum tumour fraction (default {d.alpha})")
        p.add_argument("--beta", type=float, default=d.beta, help=f"σ slope β (default {d.beta})")
        p.add_argument("--gamma", type=float, default=d.gamma, help=f"σ linear gain γ (default {d.gamma})")
        p.add_argument("--loss", choices=LOSSES, default=t.loss,
                       help="abs: Σ|o − αℓ| as printed (a cancer spot past σ⁻¹(α) ≈ 1.45α is pulled "
                            "back); signed: cancer spots α − o, cancer-free o (the same below α; "
                            f"more tumour keeps being rewarded through γ) (default {t.loss})")
        p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=t.lr_schedule,
                       help="constant: the paper's; cosine: decays the rate to 0 over all epochs, "
                            f"so a short run ends settled (default {t.lr_schedule})")
        p.add_argument("--norm", choices=NORMALISATIONS, default=d.norm,
                       help=f"normalisation after each convolution (default {d.norm}; 'none' is the "
                            "original U-Net, which tends to collapse, see models/compsegnet/README.md)")
        p.add_argument("--no-augment", action="store_true",
                       help="no random flips / 90° rotations (they are drawn by the input pipeline "
                            "from the seed and epoch and applied inside the training step, on the "
                            "device)")
        p.add_argument("--cache-dtype", choices=CACHE_DTYPES, default=t.cache_dtype,
                       help="how the training cache stores cubes: float32 (exact) or float16 (half "
                            "the bytes to read; every value within 2**-11 = 0.05%% of itself: "
                            "measured 4.9e-4 relative, 2.4e-4 absolute on absorbances in [0, 1], "
                            "benchmarks/input_pipeline.py) "
                            f"(default {t.cache_dtype})")
        p.add_argument("--input-noise", type=float, default=d.input_noise, metavar="SD",
                       help="Gaussian noise on the standardised tissue spectra while training, in "
                            f"channel stds (a regulariser for few spots; default {d.input_noise:g} = none)")
        g = p.add_argument_group("spectral preprocessing (inside the model; default none)")
        g.add_argument("--vector-norm", action="store_true", help="unit L2 norm per spectrum")
        g.add_argument("--sg-deriv", type=int, choices=(0, 1, 2), default=0,
                       help="Savitzky-Golay derivative order (0 = off)")
        g.add_argument("--sg-window", type=int, default=9, help="Savitzky-Golay window, odd (default 9)")
        g.add_argument("--sg-order", type=int, default=2, help="Savitzky-Golay polynomial order (default 2)")
        g.add_argument("--minmax", choices=("none", "amide", "spectrum"), default="none",
                       help="min-max scaling over the amide I band or the whole spectrum")

    flag_help = {"batch_size": "spots per batch and replica, k", "lr": "RMSprop learning rate"}
    model_flags = ("filters", "depth", "alpha", "beta", "gamma", "norm", "input_noise")
    train_flags = ("loss", "lr_schedule", "cache_dtype")
    negated_flags = {"augment": "no_augment"}

    def configs_from_args(self, args):
        import dataclasses

        model, train = super().configs_from_args(args)
        preprocess = dict(vector_norm=args.vector_norm, sg_deriv=args.sg_deriv, sg_window=args.sg_window,
                          sg_order=args.sg_order, minmax=args.minmax)
        return dataclasses.replace(model, preprocess=preprocess), train

    def args_from_configs(self, model_cfg, train_cfg) -> dict:
        import dataclasses

        from irpath.spectra.preprocess import PreprocessSpec

        out = super().args_from_configs(model_cfg, train_cfg)
        out.update(dataclasses.asdict(PreprocessSpec.from_value(out.pop("preprocess", {}))))
        return out

    def data_from_args(self, args) -> dict:
        return {"train_manifest": args.train_manifest, "val_manifest": args.val_manifest}

    # -- training (run by irpath.train.run) ---------------------------------------------
    run_outputs = ("stats.npz",)
    saved_objects = ("irpath.methods.compsegnet.optimizer",)

    def load_data(self, data, model_cfg, train_cfg, run):
        from irpath.methods.compsegnet.train import load_manifests

        return load_manifests(data)

    def fingerprint_inputs(self, data, model_cfg, train_cfg) -> dict:
        from irpath.methods.compsegnet.train import fingerprint_inputs

        return fingerprint_inputs(data, model_cfg)

    def prepare_run(self, ctx):
        from irpath.methods.compsegnet.train import build_caches

        return build_caches(ctx)

    def steps_per_epoch(self, ctx) -> int:
        from irpath.methods.compsegnet.train import steps_per_epoch

        return steps_per_epoch(ctx)

    def learning_rate(self, ctx):
        from irpath.methods.compsegnet.train import learning_rate

        return learning_rate(ctx.train_cfg, self.steps_per_epoch(ctx))

    def build_model(self, ctx):
        from irpath.methods.compsegnet.train import build_model

        return build_model(ctx)

    def datasets(self, ctx):
        from irpath.methods.compsegnet.train import datasets

        return datasets(ctx)

    def inference_model(self, model):
        from irpath.models.compsegnet import SEGMENTER_NAME, extract_segmenter

        return model if model.name == SEGMENTER_NAME else extract_segmenter(model)

    def tile_align(self, cfg) -> int:
        return cfg.multiple

    def default_threshold(self, cfg) -> float:
        return cfg.threshold

    def postprocess(self, maps, prepared, cfg, *, threshold=None) -> dict:
        from irpath.methods.compsegnet.postprocess import postprocess

        return postprocess(maps, prepared.tissue, self.threshold(cfg, threshold))

    def geojson_features(self, result, maps, prepared, cfg, *, mpp=None, simplify=None, threshold=None):
        """The tumour regions (map >= threshold, within tissue) as annotations: see :mod:`.postprocess`."""
        from irpath.inference.geojson_export import geojson_options
        from irpath.io.geojson import feature_collection
        from irpath.methods.compsegnet.postprocess import geojson_features

        return feature_collection(geojson_features(maps, prepared.tissue, self.threshold(cfg, threshold),
                                                   simplify=simplify, **geojson_options(prepared, mpp)))

    def plot_prediction(self, prepared, maps, result, path, *, title="", threshold=None) -> None:
        from irpath.viz.plots import plot_overlay

        plot_overlay(prepared.display, np.asarray(maps[..., 0]), threshold, None, path,
                     title=title.replace("maps", "activation map"))

    def add_evaluate_arguments(self, group) -> None:
        group.add_argument("--manifest", metavar="CSV", default=None,
                           help="compsegnet: test spots (image,label[,mask][,tissue])")
        group.add_argument("--threshold", type=float, default=None,
                           help="compsegnet: activation threshold (default: the model's, 0.35)")
        group.add_argument("--tta", action="store_true", default=None,
                           help="compsegnet: average the maps over the 8 flips / 90° turns")

    def evaluate(self, predictor, options, out_dir) -> dict:
        from irpath.errors import ConfigError
        from irpath.methods.compsegnet.evaluate import evaluate

        if not options.manifest:
            raise ConfigError("evaluate compsegnet needs --manifest CSV (the labelled test spots)")
        if options.mpp is not None:
            raise ConfigError("evaluate compsegnet: --mpp does not apply: IR cubes record no pixel size, "
                              "so spots are scored on their own pixel grid; drop --mpp")
        return evaluate(predictor, options.manifest, out_dir, threshold=options.threshold,
                        tile_limit=options.tile_limit, tta=options.tta,
                        memory_limit=options.memory_limit, geojson=options.geojson, simplify=options.simplify)

    def brief(self, report: dict) -> dict:
        return {k: report.get(k) for k in ("auc", "auc_pooled", "dice_mean", "dice_std", "threshold",
                                           "n_spots")}


METHOD = CompSegNet()

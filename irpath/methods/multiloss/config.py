"""The multi-loss recipe (BenTaieb et al. 2016): the network (:class:`MultiLossConfig`) and
its optimisation (:class:`MultiLossTrainConfig`).

:func:`network_kwargs` is the one place that maps the model config to the keyword
arguments of :mod:`irpath.models.multiloss`'s builders.
"""

from __future__ import annotations

import dataclasses

from irpath.config import check
# The choices of irpath.layers.saliency_prior, irpath.losses.multiloss and irpath.models.multiloss,
# repeated here so reading a config (and `irpath --help`) does not import TensorFlow;
# tests/methods/multiloss/test_config.py checks they agree.
CLASS_SOURCES = ("predicted", "true", "auto")
REDUCTIONS = ("max_abs", "mean_abs", "sum")
SCORES = ("probability", "logit")
PIXEL_REDUCTIONS = ("mean", "sum")
PRIOR_USES = ("target", "weight")
PRIOR_ENTRIES = ("concat", "zero_branch")
MODES = ("class", "seg", "joint")

OPTIMIZERS = ("sgd", "adam")
#: Largest accepted seed (seeds are combined with epoch numbers in int32 arithmetic).
MAX_SEED = 2**31 - 1 - 100_000


@dataclasses.dataclass(frozen=True)
class MultiLossConfig:
    """The network: a classifier, its saliency prior and a segmenter (Table 1's modes).

    Attributes:
        mode: "joint" (classifier + prior + segmenter, the paper's Multi-Loss-Joint),
            "class" (classifier only) or "seg" (segmenter only, no prior).
        in_channels: image channels (3 for H&E RGB).
        filters: filters of the first level of both components (doubles per level).
            The paper does not give its layer sizes (Fig. 1 only); 32 is irpath's choice.
        depth: 2x2 poolings of each component (the prior averages over all of them).
        convs_per_level: 3x3 convolutions per classifier level.
        skips: U-Net-style skip connections in the segmenter (the paper does not say).
        class_source: the class the prior is taken for: "auto" (true class in training,
            predicted class at inference; Sec. 2.4), "true" or "predicted".
        reduce: channel reduction of each derivative map: "max_abs" (Simonyan et al.).
        score: differentiate the softmax score ("probability", eq. 3 as printed) or the
            pre-softmax activation ("logit", Simonyan et al.; class-specific with 2 classes).
        prior_entry: how the prior and the class-score planes enter the segmenter (joint
            mode): "concat" (stacked with the image before its first convolution) or
            "zero_branch" (their own zero-initialised 3x3 convolution added to the image's
            first convolution, so the joint segmenter starts exactly as the seg-only one
            and takes the prior in as training finds it useful; the default: with it the
            joint mode's Dice is >= the seg-only mode's on the synthetic glands, see
            models/multiloss/README.md). The paper feeds the prior to the segmenter
            without saying how (Fig. 1).
    """

    mode: str = "joint"
    in_channels: int = 3
    filters: int = 32
    depth: int = 4
    convs_per_level: int = 2
    skips: bool = True
    class_source: str = "auto"
    reduce: str = "max_abs"
    score: str = "probability"
    prior_entry: str = "zero_branch"

    def __post_init__(self):
        check(self.mode in MODES, f"mode must be one of {MODES}, got {self.mode!r}")
        check(self.in_channels >= 1, f"in_channels must be >= 1, got {self.in_channels}")
        check(self.filters >= 1, f"filters must be >= 1, got {self.filters}")
        check(1 <= self.depth <= 6, f"depth must be in 1..6, got {self.depth}")
        check(self.convs_per_level >= 1, f"convs_per_level must be >= 1, got {self.convs_per_level}")
        check(self.class_source in CLASS_SOURCES,
              f"class_source must be one of {CLASS_SOURCES}, got {self.class_source!r}")
        check(self.reduce in REDUCTIONS, f"reduce must be one of {REDUCTIONS}, got {self.reduce!r}")
        check(self.score in SCORES, f"score must be one of {SCORES}, got {self.score!r}")
        check(self.prior_entry in PRIOR_ENTRIES,
              f"prior_entry must be one of {PRIOR_ENTRIES}, got {self.prior_entry!r}")

    @property
    def channels(self) -> list[str]:
        """Names of the inference model's output channels, in order."""
        from irpath.models.multiloss import inference_channels

        return inference_channels(self.mode)


@dataclasses.dataclass(frozen=True)
class MultiLossTrainConfig:
    """How the network is trained (Sec. 3.1-3.2).

    Attributes:
        epochs: epochs of the main phase (joint, or the only phase for "class"/"seg").
            83 epochs of 240 training crops at batch 1 are the paper's ~20,000 iterations.
        pretrain_epochs: epochs of classifier pre-training before the joint phase
            ("joint" only; the paper pre-trains but gives no length: irpath's choice).
        lam: λ of eq. 5, L = λ L_c + (1 - λ) L_s (paper 0.5).
        optimizer: "adam" (default) or "sgd" (SGD with momentum, the paper's Caffe solver;
            ``models/multiloss/paper.json``). SGD with momentum 0.99 at batch 1 left the
            classifier at chance on GlaS-like glands (loss 0.65-0.66 for 20 epochs);
            Adam at 1e-4 learns them (models/multiloss/README.md).
        lr: learning rate (not given in the paper; 1e-4 for Adam, the paper recipe 1e-3).
        momentum: SGD momentum (paper 0.99, chosen for batch 1; unused by Adam).
        batch_size: crops per replica and step (paper 1).
        crop: side of the random training crops (paper 224).
        resize: GlaS images are resized to resize x resize (paper 500) ...
        tile: ... and cut into non-overlapping tile x tile crops (paper 250).
        val_fraction, test_fraction: fractions of the GlaS images in the validation and
            test parts (paper 0.1, 0.2; the rest trains), split by image. With a manifest,
            val_fraction / (1 - test_fraction) of its images are held out for validation.
        seed: seeds the split, weights, crop order and augmentation.
        augment: affine + elastic + colour augmentation through the shared
            :func:`irpath.data.joint_augment.augment` (paper: "spatial (affine and
            elastic) transformations and colour perturbations").
        elastic_alpha: RMS elastic displacement in pixels (0 disables it).
        pixel_reduction: L_s averaged ("mean") or summed ("sum", eq. 4 literally) over pixels.
        prior_use: how the prior enters L_s: "weight" (default: target S, pixel weight
            1 + S·f) or "target" (eq. 4 as printed: soft target S·f). With f in [0, 1]
            the literal target makes Ŝ = argmax P (eq. 6) call every gland pixel with
            f < 0.5 background, which caps Dice near 0.5 on synthetic glands; see
            models/multiloss/README.md.
    """

    epochs: int = 83
    pretrain_epochs: int = 20
    lam: float = 0.5
    optimizer: str = "adam"
    lr: float = 1e-4
    momentum: float = 0.99
    batch_size: int = 1
    crop: int = 224
    resize: int = 500
    tile: int = 250
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    seed: int = 0
    augment: bool = True
    elastic_alpha: float = 4.0
    pixel_reduction: str = "mean"
    prior_use: str = "weight"

    def __post_init__(self):
        check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        check(self.pretrain_epochs >= 0, f"pretrain_epochs must be >= 0, got {self.pretrain_epochs}")
        check(0.0 <= self.lam <= 1.0, f"lambda must be in [0, 1], got {self.lam}")
        check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got "
                                            f"{self.optimizer!r}")
        check(0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr}")
        check(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}")
        check(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}")
        check(self.crop >= 8, f"crop must be >= 8, got {self.crop}")
        check(1 <= self.tile <= self.resize, f"tile must be in 1..resize={self.resize}, got {self.tile}")
        check(0 < self.val_fraction and 0 <= self.test_fraction
              and self.val_fraction + self.test_fraction < 1,
              f"val_fraction > 0 and test_fraction >= 0 must leave images to train on, got "
              f"{self.val_fraction}, {self.test_fraction}")
        check(0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}, got {self.seed}")
        check(self.elastic_alpha >= 0, f"elastic_alpha must be >= 0, got {self.elastic_alpha}")
        check(self.pixel_reduction in PIXEL_REDUCTIONS,
              f"pixel_reduction must be one of {PIXEL_REDUCTIONS}, got {self.pixel_reduction!r}")
        check(self.prior_use in PRIOR_USES,
              f"prior_use must be one of {PRIOR_USES}, got {self.prior_use!r}")

    @property
    def split(self) -> tuple[float, float, float]:
        """(train, val, test) fractions of the GlaS images."""
        return (1.0 - self.val_fraction - self.test_fraction, self.val_fraction, self.test_fraction)

    @property
    def manifest_val_fraction(self) -> float:
        """Fraction of a manifest's images held out for validation."""
        return self.val_fraction / (1.0 - self.test_fraction)

    def augment_config(self):
        """The shared joint augmentation (None when ``augment`` is off)."""
        if not self.augment:
            return None
        from irpath.data.joint_augment import AugmentConfig

        # the tiles are raw RGB in [0, 255] (the model rescales inside): the colour jitter
        # must know it, or it clips every crop to [0, 1], i.e. white (issue 23)
        return AugmentConfig(elastic_alpha=self.elastic_alpha,
                             elastic_prob=0.5 if self.elastic_alpha > 0 else 0.0, value_range=255.0)


def network_kwargs(cfg: MultiLossConfig) -> dict:
    """``{"classifier": kwargs, "segmenter": kwargs, "joint": kwargs}`` for the builders."""
    common = dict(in_channels=cfg.in_channels, filters=cfg.filters, depth=cfg.depth)
    return {"classifier": dict(common, convs_per_level=cfg.convs_per_level),
            "segmenter": dict(common, skips=cfg.skips, with_prior=cfg.mode == "joint",
                              with_scores=cfg.mode == "joint", prior_entry=cfg.prior_entry),
            "joint": dict(mode=cfg.mode, class_source=cfg.class_source, reduce=cfg.reduce,
                          score=cfg.score, in_channels=cfg.in_channels)}

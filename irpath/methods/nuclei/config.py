"""The nuclei recipe (Qu et al. 2019): the network + post-processing (:class:`NucleiConfig`)
and its optimisation and data (:class:`NucleiTrainConfig`).

Defaults are the paper's (Sec. 2-3) or, where it is silent, the authors' code
(``params.py``: post-processing min_area 20 / radius 1, test patches 224 with
overlap 80, augmentation ranges). :func:`network_kwargs` maps the
model section to :func:`irpath.models.resnet_unet.build_resnet34_unet` keywords
in exactly one place.
"""

from __future__ import annotations

import dataclasses
import math

from irpath.config import check
from irpath.errors import ConfigError

#: ResNet34's stages (as :mod:`irpath.models.resnet_unet`, not imported here: no TensorFlow at import).
RESNET34_BLOCKS, RESNET34_FILTERS = (3, 4, 6, 3), (64, 128, 256, 512)

#: Largest accepted seed (seeds are folded with epoch numbers in int64 stateless RNG).
MAX_SEED = 2**31 - 1
#: Named class mappings for instance + type label files (``--class-map``).
CLASS_MAP_NAMES = ("consep", "pannuke")


def _ints(values, what: str) -> list[int]:
    try:
        out = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a list of integers, got {values!r}") from None
    check(len(out) == 4 and min(out) >= 1, f"{what} needs 4 positive integers, got {values!r}")
    return out


def normalise_stain(stain) -> dict | None:
    """``{"mean": [3 floats], "std": [3 floats > 0]}`` (Reinhard L*a*b* reference) or None."""
    if stain is None:
        return None
    check(isinstance(stain, dict) and set(stain) == {"mean", "std"},
          f"stain must be {{'mean': [3], 'std': [3]}} or null, got {stain!r}")
    try:
        mean, std = [float(v) for v in stain["mean"]], [float(v) for v in stain["std"]]
    except (TypeError, ValueError):
        raise ConfigError(f"stain mean/std must be numbers, got {stain!r}") from None
    check(len(mean) == 3 and len(std) == 3, f"stain needs 3 means and 3 stds, got {stain!r}")
    check(all(math.isfinite(v) for v in mean + std) and min(std) > 0,
          f"stain std must be finite and > 0, got {std}")
    return {"mean": mean, "std": std}


@dataclasses.dataclass(frozen=True)
class NucleiConfig:
    """The prediction network and its post-processing.

    Attributes:
        in_channels: image channels (3: RGB; grey images are read as 3 equal channels).
        decoder_filters: filters of the four U-Net up-blocks, deepest first
            (authors: 256, 128, 64, 64).
        dropout: spatial dropout after each decoder conv (authors: 0.1).
        encoder_blocks, encoder_filters: the trunk's four stages; default
            ResNet34's [3, 4, 6, 3] x [64, 128, 256, 512] (the paper). Smaller
            values exist so tests can run on a busy CPU; they are not the method.
        min_area: inner parts smaller than this (px) are dropped (authors: 20).
        radius: inner parts grow back by this many px (authors: disk(1)).
        inner_threshold: None: inner parts are the argmax (authors); a value t in
            (0, 1): pixels whose three inner maps sum to more than t (irpath's
            option for faint contours between touching nuclei; ``irpath evaluate
            nuclei --calibrate VAL_DIR`` picks it on validation images).
        split: None: each connected inner part is one nucleus (authors); a value h > 0:
            inner parts are split by a marker watershed on the smoothed P(inner) -
            P(contour), seeded at maxima rising more than h (irpath's option for
            overlapping nuclei the network joins; training calibration chooses it with
            the threshold, see :func:`~irpath.methods.nuclei.postprocess.split_components`).
        tile, overlap: evaluation predicts images larger than ``tile`` x ``tile``
            in tiles of this size overlapping by ``overlap`` px (authors: 224, 80).
        stain: Reinhard reference ``{"mean": [L, a, b], "std": [L, a, b]}``
            applied to every image before the network (training, evaluate and
            predict alike), or None (no colour normalisation).
    """

    in_channels: int = 3
    decoder_filters: list = dataclasses.field(default_factory=lambda: [256, 128, 64, 64])
    dropout: float = 0.1
    encoder_blocks: list = dataclasses.field(default_factory=lambda: list(RESNET34_BLOCKS))
    encoder_filters: list = dataclasses.field(default_factory=lambda: list(RESNET34_FILTERS))
    min_area: int = 20
    radius: float = 1.0
    inner_threshold: float | None = None
    split: float | None = None
    tile: int = 224
    overlap: int = 80
    stain: dict | None = None

    def __post_init__(self):
        check(self.in_channels == 3, f"in_channels must be 3 (RGB), got {self.in_channels}")
        for name in ("decoder_filters", "encoder_blocks", "encoder_filters"):
            object.__setattr__(self, name, _ints(getattr(self, name), name))
        object.__setattr__(self, "stain", normalise_stain(self.stain))
        check(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")
        check(self.min_area >= 0, f"min_area must be >= 0, got {self.min_area}")
        check(self.radius >= 0, f"radius must be >= 0, got {self.radius}")
        t = self.inner_threshold
        check(t is None or (isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1),
              f"inner_threshold must be a number in (0, 1) or null, got {t!r}")
        if t is not None:
            object.__setattr__(self, "inner_threshold", float(t))
        h = self.split
        check(h is None or (isinstance(h, (int, float)) and not isinstance(h, bool) and 0 < h < 2),
              f"split must be a number in (0, 2) or null, got {h!r}")
        if h is not None:
            object.__setattr__(self, "split", float(h))
        check(self.tile >= 32 and self.tile % 32 == 0,
              f"tile must be a multiple of 32 (the encoder's stride), got {self.tile}")
        check(0 <= self.overlap < self.tile // 2, f"overlap must be in [0, tile/2), got {self.overlap}")

    @property
    def is_resnet34(self) -> bool:
        return (tuple(self.encoder_blocks) == RESNET34_BLOCKS
                and tuple(self.encoder_filters) == RESNET34_FILTERS)


@dataclasses.dataclass(frozen=True)
class NucleiTrainConfig:
    """How the network is optimised and fed (paper Sec. 2.1 and 3).

    Attributes:
        epochs: passes over the training patches (paper 300).
        batch_size: crops per replica and step (paper 8).
        lr: Adam learning rate (paper 1e-4).
        weight_decay: decoupled weight decay (AdamW; paper 1e-4 with Adam).
        beta: weight of the perceptual loss, eq. 4 (paper 0.1).
        vgg_weights: local VGG16 (include_top=False) weights file for the perceptual
            loss; None disables that loss (with a warning). Never downloaded.
        encoder_weights: local ResNet34 encoder weights (``.weights.h5`` from
            :func:`~irpath.models.resnet_unet.save_encoder_weights`, e.g. converted
            ImageNet weights); None: random initialisation.
        patch: side of the overlapping patches cut from every training image (paper 250).
        patches_per_image: patches per training image, on a square grid (paper 16 = 4 x 4).
        crop: side of the random training crops (paper 224).
        steps_per_epoch: batches per epoch; None: one pass over the patches.
        augment: random scale, flips, affine (rotation + shear), elastic deformation.
        rotation: max rotation in degrees (authors 90).
        scale_min, scale_max: random resize range (authors 0.75-1.5).
        shear: max shear in degrees (authors' affine bound 0.3 ~ 17 degrees).
        elastic_alpha, elastic_sigma, elastic_prob: elastic deformation: RMS
            displacement (px), smoothness (px), probability.
        brightness: intensity jitter, the largest added brightness as a fraction of
            white (255); 0 (the authors') disables it.
        contrast: intensity jitter, the contrast factor drawn in [1 - contrast,
            1 + contrast] about each crop's mean; 0 (the authors') disables it.
            StarDist's training jitters one-channel intensities this way; a model
            trained without it misses dim nuclei.
        class_map: for instance + type label files: "consep", "pannuke", a JSON
            file ``{"type": "class"}``, or inline ``"1:tumour,2:lymphocyte,3:stroma"``
            (class names, indices 0-2, or "none" to drop a type); None for
            id-mod-3 label images.
        seed: seeds weights, crop order and augmentation.
        calibrate: after training, choose the model's ``inner_threshold`` on the validation
            images (the best mean object F1 over the argmax and 0.20-0.95, as ``irpath
            evaluate nuclei --calibrate`` does), jointly with its ``min_area`` (the recipe's,
            a half or a quarter of it) and its ``split`` (the recipe's, then none and
            0.1/0.2/0.3/0.5: :func:`~irpath.methods.nuclei.evaluate.split_grid`), and record
            them in the run's config.json, so ``evaluate`` and ``predict`` use them. False keeps the model config's
            post-processing (``--inner-threshold argmax`` is the paper's).
    """

    epochs: int = 300
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-4
    beta: float = 0.1
    vgg_weights: str | None = None
    encoder_weights: str | None = None
    patch: int = 250
    patches_per_image: int = 16
    crop: int = 224
    steps_per_epoch: int | None = None
    augment: bool = True
    rotation: float = 90.0
    scale_min: float = 0.75
    scale_max: float = 1.5
    shear: float = 17.0
    elastic_alpha: float = 2.0
    elastic_sigma: float = 10.0
    elastic_prob: float = 0.5
    brightness: float = 0.0
    contrast: float = 0.0
    class_map: str | None = None
    seed: int = 0
    calibrate: bool = True

    def __post_init__(self):
        check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}")
        check(0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr}")
        check(0 <= self.weight_decay < 1, f"weight decay must be in [0, 1), got {self.weight_decay}")
        check(self.beta >= 0 and math.isfinite(self.beta), f"beta must be >= 0, got {self.beta}")
        check(self.patch >= 8, f"patch must be >= 8, got {self.patch}")
        n = math.isqrt(self.patches_per_image)
        check(self.patches_per_image >= 1 and n * n == self.patches_per_image,
              f"patches_per_image must be a square (1, 4, 9, 16, ...), got {self.patches_per_image}")
        check(8 <= self.crop <= self.patch, f"crop must be in [8, patch={self.patch}], got {self.crop}")
        check(self.steps_per_epoch is None or self.steps_per_epoch >= 1,
              f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        check(0 <= self.rotation <= 180, f"rotation must be in [0, 180], got {self.rotation}")
        check(0 < self.scale_min <= self.scale_max, f"need 0 < scale_min <= scale_max, got "
                                                    f"{self.scale_min}, {self.scale_max}")
        check(0 <= self.shear < 60, f"shear must be in [0, 60), got {self.shear}")
        check(self.elastic_alpha >= 0 and self.elastic_sigma > 0 and 0 <= self.elastic_prob <= 1,
              "elastic_alpha must be >= 0, elastic_sigma > 0 and elastic_prob in [0, 1]")
        check(0 <= self.brightness <= 1, f"brightness must be in [0, 1], got {self.brightness}")
        check(0 <= self.contrast < 1, f"contrast must be in [0, 1), got {self.contrast}")
        check(0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}, got {self.seed}")

    def augment_config(self):
        """The :class:`~irpath.data.joint_augment.AugmentConfig` of this recipe, or None.

        Geometry, and intensity jitter when the recipe asks for it (``brightness``,
        ``contrast``; the authors add none, and no saturation or hue jitter here). Fill is "reflect" (the
        core's default): what is augmented are the class and weight maps computed
        on the whole image, not instance ids, so mirrored content carries its own
        mirrored targets, and no crop is mostly fill.
        """
        if not self.augment:
            return None
        from irpath.data.joint_augment import AugmentConfig

        return AugmentConfig(rotation=self.rotation, scale=(self.scale_min, self.scale_max),
                             shear=self.shear, elastic_alpha=self.elastic_alpha,
                             elastic_sigma=self.elastic_sigma, elastic_prob=self.elastic_prob,
                             flips=True, rot90=True, brightness=self.brightness, contrast=self.contrast,
                             saturation=0.0, hue=0.0, fill_mode="reflect", value_range=255.0)


def network_kwargs(cfg: NucleiConfig) -> dict:
    """Keyword arguments of :func:`~irpath.models.resnet_unet.build_resnet34_unet`."""
    return dict(n_outputs=5, decoder_filters=tuple(cfg.decoder_filters), dropout=cfg.dropout,
                input_channels=cfg.in_channels, encoder_blocks=tuple(cfg.encoder_blocks),
                encoder_filters=tuple(cfg.encoder_filters))

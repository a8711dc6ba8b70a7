"""CompSegNet's recipe: the network (:class:`CompSegNetConfig`) and its optimisation
(:class:`CompSegNetTrainConfig`). :func:`segmenter_kwargs` and :func:`pooling_kwargs`
are the one place the first becomes keyword arguments of the builders in
:mod:`irpath.models.compsegnet`; :func:`build_from_config` builds the network from it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from irpath.config import check

NORMALISATIONS = ("none", "batch", "group")
#: Largest accepted seed: seeds are combined with epoch numbers in int32 arithmetic.
MAX_SEED = 2**31 - 1 - 100_000


@dataclasses.dataclass(frozen=True)
class CompSegNetConfig:
    """CompSegNet: a U-Net whose sigmoid map is pooled by one neuron with σ_{α,β,γ}.

    Attributes:
        in_channels: spectral channels of the input cube (450 in the paper).
        wn_start, wn_stop: the wavenumber axis cubes are resampled onto (cm^-1).
        filters: filters of the first U-Net level (doubles per level; paper 64).
        depth: number of 2x2 poolings (paper 4); H, W are padded to a multiple of 2**depth.
        alpha: upper bound of σ: the minimum tumour fraction of a cancer spot (paper 0.1).
        beta: slope of σ (paper 5).
        gamma: asymptotic linear gain of σ (paper 0.001).
        map_prior: mean activation the map starts from. The 1x1 map convolution is
            zero-initialised and its bias set to logit(map_prior), so training
            starts where σ is steep (see models/compsegnet/README.md). None uses
            alpha / beta.
        norm: normalisation after each convolution: "batch" (default; keeps an
            un-normalised SoftPlus U-Net from collapsing, see
            models/compsegnet/README.md), "group", or "none" (the original U-Net).
        threshold: activation threshold for tumour (paper 0.35 = .35·255 / 255).
        preprocess: spectral preprocessing run inside the model before the
            standardisation, as a dict of :class:`irpath.spectra.preprocess.PreprocessSpec`
            fields (vector_norm, sg_deriv, sg_window, sg_order, minmax); {} = none (paper).
            Stored canonically: only non-default keys.
        input_noise: standard deviation of Gaussian noise added to the standardised
            tissue spectra while training (:class:`irpath.layers.TissueNoise`, in units
            of each channel's tissue std; identity at inference). 0 (default, the
            paper's) adds no layer.
    """

    in_channels: int = 450
    wn_start: float = 1800.0
    wn_stop: float = 948.0
    filters: int = 64
    depth: int = 4
    alpha: float = 0.1
    beta: float = 5.0
    gamma: float = 0.001
    map_prior: float | None = None
    norm: str = "batch"
    threshold: float = 0.35
    preprocess: dict = dataclasses.field(default_factory=dict)
    input_noise: float = 0.0

    def __post_init__(self):
        from irpath.spectra.preprocess import PreprocessSpec

        object.__setattr__(self, "preprocess", PreprocessSpec.from_value(self.preprocess).to_dict())
        check(self.in_channels >= 1, f"in_channels must be >= 1, got {self.in_channels}")
        check(self.filters >= 1, f"filters must be >= 1, got {self.filters}")
        check(0 <= self.depth <= 6, f"depth must be in 0..6, got {self.depth}")
        check(0 < self.alpha <= 1, f"alpha must be in (0, 1], got {self.alpha}")
        check(self.beta > 0, f"beta must be > 0, got {self.beta}")
        check(self.gamma >= 0, f"gamma must be >= 0, got {self.gamma}")
        check(self.map_prior is None or 0 < self.map_prior < 1,
               f"map_prior must be in (0, 1), got {self.map_prior}")
        check(self.norm in NORMALISATIONS, f"norm must be one of {NORMALISATIONS}, got {self.norm!r}")
        check(0 < self.threshold < 1, f"threshold must be in (0, 1), got {self.threshold}")
        check(self.wn_start != self.wn_stop, "wn_start and wn_stop must differ")
        check(0 <= self.input_noise < 10, f"input_noise must be in [0, 10), got {self.input_noise}")

    @property
    def map_bias(self) -> float:
        """Initial bias of the map's logit: logit(map_prior)."""
        p = self.map_prior if self.map_prior is not None else self.alpha / self.beta
        return math.log(p / (1.0 - p))

    @property
    def axis(self) -> np.ndarray:
        """The (C,) wavenumber axis cubes are resampled onto before entering the model."""
        return np.linspace(self.wn_start, self.wn_stop, self.in_channels)

    @property
    def multiple(self) -> int:
        return 2 ** self.depth


def segmenter_kwargs(cfg: CompSegNetConfig) -> dict:
    """Keyword arguments of :func:`irpath.models.compsegnet.build_segmenter` for ``cfg``."""
    return dict(in_channels=cfg.in_channels, filters=cfg.filters, depth=cfg.depth,
                norm=cfg.norm, map_bias=cfg.map_bias, preprocess=cfg.preprocess, axis=cfg.axis,
                input_noise=cfg.input_noise)


def pooling_kwargs(cfg: CompSegNetConfig) -> dict:
    """Keyword arguments of :func:`irpath.models.compsegnet.build_compsegnet` (the pooling neuron)."""
    return dict(alpha=cfg.alpha, beta=cfg.beta, gamma=cfg.gamma)


def build_from_config(cfg: CompSegNetConfig, mean, std, *, device_augment: bool = False):
    """A fresh CompSegNet ``keras.Model`` for ``cfg`` with input statistics ``mean``/``std``
    (``device_augment``: as :func:`irpath.models.compsegnet.build_compsegnet`)."""
    from irpath.models.compsegnet import build_compsegnet, build_segmenter

    return build_compsegnet(build_segmenter(mean, std, **segmenter_kwargs(cfg)), **pooling_kwargs(cfg),
                            device_augment=device_augment)


#: CompSegNet's loss forms (:func:`irpath.losses.weak_label.comparative_loss`).
LOSSES = ("abs", "signed")
#: Learning-rate schedules: the paper's constant rate, or a cosine decay to 0 over all epochs.
LR_SCHEDULES = ("constant", "cosine")
#: How the training cache may store cubes (:data:`irpath.data.cache.CUBE_DTYPES`).
CACHE_DTYPES = ("float32", "float16")


@dataclasses.dataclass(frozen=True)
class CompSegNetTrainConfig:
    """How a CompSegNet is optimised (paper: RMSprop, lr 1e-3, k = 7, 400 epochs).

    Attributes:
        epochs: passes over the training spots.
        batch_size: spots per replica and step (k); the global batch is
            batch_size x replicas. Every batch mixes cancer and cancer-free spots.
        lr: RMSprop learning rate.
        seed: seeds weights, shuffling and augmentation.
        augment: random flips / 90° rotations (a spot has no orientation).
        rms_init: initial value of RMSprop's mean-square accumulator. 0.0 is
            Keras'; TensorFlow 1, which the paper used, started it at 1.0, which
            makes the first ~150 steps tiny (see models/compsegnet/README.md).
        loss: "abs" (g = Σ|o − αℓ|, the paper's equation) or "signed" (cancer spots
            α − o, cancer-free o: equal below α, but a cancer spot is not pulled back
            once σ passes α; :mod:`irpath.losses.weak_label`).
        lr_schedule: "constant" (the paper's) or "cosine": lr · (1 + cos(π t / T)) / 2
            at step t of T = epochs x steps per epoch, so a short run ends with small
            steps instead of at the noise level of a large constant rate.
        cache_dtype: how the training cache stores cubes: "float32" (exact) or
            "float16" (half the bytes to read; each value within 2**-11 relative,
            :mod:`irpath.data.cache`).
    """

    epochs: int = 400
    batch_size: int = 7
    lr: float = 1e-3
    seed: int = 0
    augment: bool = True
    rms_init: float = 0.0
    loss: str = "abs"
    lr_schedule: str = "constant"
    cache_dtype: str = "float32"

    def __post_init__(self):
        check(self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}")
        check(self.cache_dtype in CACHE_DTYPES,
              f"cache_dtype must be one of {CACHE_DTYPES}, got {self.cache_dtype!r}")
        check(self.lr_schedule in LR_SCHEDULES,
              f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        check(self.batch_size >= 2, f"batch size must be >= 2 (a cancer and a cancer-free "
                                     f"spot per batch), got {self.batch_size}")
        check(0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr}")
        check(self.rms_init >= 0, f"rms_init must be >= 0, got {self.rms_init}")
        check(0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}, got {self.seed}")

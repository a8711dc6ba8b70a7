"""The VGG16-FCN recipe (Abdulhamid): the network (:class:`FcnConfig`) and its
optimisation (:class:`FcnTrainConfig`).

:func:`network_kwargs` is the one place that maps the model config to the
keyword arguments of :func:`irpath.models.vgg_fcn.build_vgg_fcn`.
"""

from __future__ import annotations

import dataclasses

from irpath.config import check
from irpath.io.colour_labels import CLASS_NAMES

# Kept here (not imported from irpath.losses.fcn / irpath.models.vgg_fcn) so reading a
# recipe or building `irpath train --help` does not import Keras; tests check they agree.
LOSSES = ("ce", "l1l2")
DECODERS = ("final", "exp1", "exp2", "exp3")
DEFAULT_CUT = "block3_conv2"

#: Largest accepted seed (seeds are combined with epoch numbers in int32 arithmetic).
MAX_SEED = 2**31 - 1 - 100_000


@dataclasses.dataclass(frozen=True)
class FcnConfig:
    """The network: VGG16 layers up to ``cut``, then a transposed-convolution decoder.

    Attributes:
        in_channels: image channels (3: RGB in [0, 255]; VGG preprocessing is inside the model).
        cut: last VGG16 layer kept. ``"block3_conv2"`` (default) is the paper's final
            model (Fig. 6, features at 1/4 resolution); ``"block2_conv2"`` is the cut of
            Experiments 1-3 (1/2 resolution).
        decoder: the decoder layers, a figure of the paper: "final" (Fig. 6), "exp1",
            "exp2", "exp3" (Figs. 3-5); None (default) picks "final" for stride-4
            cuts (the paper's final model) and "exp3" for stride-2 cuts; or custom
            layers, ``((kind, kernel, filters), ...)`` or the string
            ``"up:2:16,conv:3:16"`` (kind "up" = 2x2-style stride-2 transposed
            convolution, "conv" = convolution). Its upsampling must undo the cut's stride.
        decoder_filters: replaces the decoder's filter counts, one per layer (None:
            the paper's, e.g. 256 256 256 128 64 32 for Fig. 6).
        freeze_encoder: keep the VGG16 layers fixed (the paper fine-tunes them).
    """

    in_channels: int = 3
    cut: str = DEFAULT_CUT
    decoder: str | tuple | None = None
    decoder_filters: tuple[int, ...] | None = None
    freeze_encoder: bool = False

    def __post_init__(self):
        if self.decoder_filters is not None:
            object.__setattr__(self, "decoder_filters", tuple(int(f) for f in self.decoder_filters))
        if self.decoder is not None and not (isinstance(self.decoder, str) and self.decoder in DECODERS):
            object.__setattr__(self, "decoder", parse_decoder(self.decoder))
        check(self.in_channels == 3, f"in_channels must be 3 (RGB), got {self.in_channels}")
        check(self.decoder_filters is None or all(f >= 1 for f in self.decoder_filters),
              f"decoder_filters must be >= 1, got {self.decoder_filters}")
        from irpath.models.vgg_fcn import VGG16_CUTS, _decoder_spec

        check(self.cut in VGG16_CUTS, f"cut must be a VGG16 layer ({', '.join(VGG16_CUTS)}), "
                                      f"got {self.cut!r}")
        _decoder_spec(self.decoder, self.decoder_filters, self.cut)  # stride and filter count

    @property
    def n_classes(self) -> int:
        return len(CLASS_NAMES)

    @property
    def stride(self) -> int:
        """Output stride of the encoder (inputs are padded to a multiple of it)."""
        from irpath.models.vgg_fcn import VGG16_CUTS

        return VGG16_CUTS[self.cut]


def parse_decoder(decoder) -> tuple[tuple[str, int, int], ...]:
    """Custom decoder layers from ``"up:2:16,conv:3:16"`` or a sequence of ``(kind, kernel,
    filters)`` (e.g. JSON lists) -> a tuple of ``(kind, kernel, filters)`` tuples.

    Raises:
        ConfigError: neither a paper decoder name nor well-formed layers.
    """
    from irpath.errors import ConfigError

    layers = decoder.split(",") if isinstance(decoder, str) else list(decoder)
    out = []
    for layer in layers:
        parts = layer.split(":") if isinstance(layer, str) else list(layer)
        try:
            kind, kernel, filters = parts
            out.append((str(kind).strip(), int(kernel), int(filters)))
        except (TypeError, ValueError):
            raise ConfigError(f"decoder must be one of {DECODERS} or layers like 'up:2:16,conv:3:16', "
                              f"got {decoder!r}") from None
    return tuple(out)


def network_kwargs(cfg: FcnConfig) -> dict:
    """Keyword arguments of :func:`irpath.models.vgg_fcn.build_vgg_fcn` for ``cfg``."""
    return {"n_classes": cfg.n_classes, "cut": cfg.cut, "input_channels": cfg.in_channels,
            "decoder": cfg.decoder, "decoder_filters": cfg.decoder_filters,
            "freeze_encoder": cfg.freeze_encoder}


@dataclasses.dataclass(frozen=True)
class FcnTrainConfig:
    """How the network is trained (Sec. 4.2, 4.3 and 6.1).

    Attributes:
        epochs: passes over the training images (the paper: "roughly 5-10 epochs").
        batch_size: images (or crops) per replica and step (paper 4).
        lr: Adam learning rate (paper 1e-4).
        decay: exponential learning-rate decay factor, applied once per epoch
            (staircase): lr_e = lr * decay**e (paper: "learning decay rate of 0.96").
        loss: "ce" (pixel-wise softmax cross-entropy, the paper's final choice) or
            "l1l2" (l1 * L1 + l2 * L2 between the one-hot label and the probabilities).
        l1, l2: the weights of the "l1l2" loss.
        tv_weight: weight of the total-variation (neighbour smoothness) penalty on the
            probability maps, the fix Sec. 6.2 proposes for noisy outputs; 0 disables it.
        crop: train on random crop x crop windows; None (default, as the paper) trains
            on whole images, which must then all have one size (e.g. 1128 x 720).
        steps_per_epoch: batches per epoch; None (default, as the paper): one pass over
            the training images, ``ceil(n_images / batch_size)``. With ``crop``, a few large
            images give one or two steps per epoch; more steps make an epoch (and the
            per-epoch decay and validation) cover many random crops.
        mirror: random mirroring about the x and the y axis (Sec. 4.2).
        noise_std: std of Gaussian noise added to the training images, in grey levels
            of [0, 255] (Sec. 4.2 proposes it; 0, the default, disables it).
        vgg_weights: VGG16 weights to start the encoder from: a local file in either
            Keras layout (Keras 3 ``.weights.h5`` from ``VGG16(weights=None).save_weights``,
            or Keras 2's legacy ``*_notop.h5``, the file ``VGG16(weights="imagenet")``
            downloads), or "imagenet" (Keras downloads and caches that file; needs the
            network); None: random.
        seed: seeds the weights, the sample order, crops, mirroring and noise.
    """

    epochs: int = 10
    batch_size: int = 4
    lr: float = 1e-4
    decay: float = 0.96
    loss: str = "ce"
    l1: float = 1.0
    l2: float = 1.0
    tv_weight: float = 0.0
    crop: int | None = None
    steps_per_epoch: int | None = None
    mirror: bool = True
    noise_std: float = 0.0
    vgg_weights: str | None = None
    seed: int = 0

    def __post_init__(self):
        check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}")
        check(0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr}")
        check(0 < self.decay <= 1, f"decay must be in (0, 1], got {self.decay}")
        check(self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}")
        check(self.l1 >= 0 and self.l2 >= 0 and self.l1 + self.l2 > 0,
              f"l1 and l2 must be >= 0 and not both 0, got {self.l1}, {self.l2}")
        check(self.tv_weight >= 0, f"tv_weight must be >= 0, got {self.tv_weight}")
        check(self.crop is None or self.crop >= 8, f"crop must be >= 8 (or None), got {self.crop}")
        check(self.steps_per_epoch is None or self.steps_per_epoch >= 1,
              f"steps_per_epoch must be >= 1 (or None), got {self.steps_per_epoch}")
        check(self.noise_std >= 0, f"noise_std must be >= 0, got {self.noise_std}")
        check(0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}, got {self.seed}")

"""VGG16 fully convolutional network for cancer / stroma / background (Abdulhamid).

Encoder: the first layers of ``keras.applications.VGG16`` (same layer names),
cut at a configurable layer. The paper's final model (Fig. 6) keeps VGG16 "up
to the second pooling layer plus one more pooling and two more convolutions"
(Sec. 5.2.4): ``block1_conv1 .. block3_conv2``, 256 channels at 1/4 of the
input resolution (``cut="block3_conv2"``). Experiments 1-3 stop "right before
the second pooling layer" (Sec. 5.2): ``cut="block2_conv2"``, 128 channels at 1/2.

Decoder: a stack of 3x3 convolutions and 2x2 stride-2 transposed convolutions
(one per factor 2 of the encoder's stride), ReLU after each, then a 3x3
convolution to ``n_classes`` and a softmax. :data:`PAPER_DECODERS` holds the
layer lists of Figs. 3-6, read bottom (input) to top (output); Fig. 6's
"2x2 Conv, 128" is the second transposed convolution of Sec. 5.2.4.

Inputs are raw RGB in [0, 255]; VGG's preprocessing (RGB -> BGR, ImageNet mean
subtraction) is the model's first layer. Any H, W works: the preprocessed
image is padded (with the mean colour, i.e. zeros) to a multiple of the
encoder stride and the output cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from irpath.errors import ConfigError
from irpath.io.keras_weights import VGG16, read_weights_file, set_layer_weights
from irpath.layers import CropToMatch, PadToMultiple

# VGG16 layer name -> output stride (input size / feature-map size).
VGG16_CUTS = {}
for _block, _n_conv in enumerate((2, 2, 3, 3, 3), start=1):
    for _i in range(1, _n_conv + 1):
        VGG16_CUTS[f"block{_block}_conv{_i}"] = 2 ** (_block - 1)
    VGG16_CUTS[f"block{_block}_pool"] = 2**_block
del _block, _n_conv, _i

VGG16_CONV_LAYERS = tuple(name for name in VGG16_CUTS if "conv" in name)
PAPER_CUTS = {"exp1": "block2_conv2", "exp2": "block2_conv2", "exp3": "block2_conv2",
              "final": "block3_conv2"}
DEFAULT_CUT = PAPER_CUTS["final"]

# (kind, kernel, filters); "conv" = 3x3-style same-padded convolution, "up" =
# stride-2 transposed convolution. The output 3x3 conv to n_classes is implicit.
PAPER_DECODERS = {
    "exp1": (("up", 2, 128), ("conv", 11, 64), ("conv", 9, 48), ("conv", 3, 32)),
    "exp2": (("up", 2, 128), ("conv", 9, 64), ("conv", 7, 48), ("conv", 5, 32)),
    "exp3": (("up", 2, 128), ("conv", 3, 256), ("conv", 3, 256), ("conv", 3, 128),
             ("conv", 3, 128), ("conv", 3, 64), ("conv", 3, 32)),
    "final": (("conv", 3, 256), ("up", 2, 256), ("conv", 3, 256), ("up", 2, 128),
              ("conv", 3, 64), ("conv", 3, 32)),
}
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="irpath")
class VGGPreprocess(keras.layers.Layer):
    """``keras.applications.vgg16.preprocess_input`` as a layer: (N, H, W, 3) RGB -> BGR − mean."""

    def call(self, x):
        bgr = keras.ops.flip(x, axis=-1)
        return bgr - keras.ops.convert_to_tensor(VGG_MEAN_BGR, dtype=x.dtype)


def _decoder_spec(decoder, decoder_filters, cut: str):
    if decoder is None:
        decoder = "final" if VGG16_CUTS[cut] == 4 else "exp3"
    if isinstance(decoder, str):
        if decoder not in PAPER_DECODERS:
            raise ConfigError(f"unknown decoder {decoder!r}; choose one of {sorted(PAPER_DECODERS)}")
        decoder = PAPER_DECODERS[decoder]
    spec = [(str(kind), int(k), int(f)) for kind, k, f in decoder]
    if decoder_filters is not None:
        decoder_filters = [int(f) for f in decoder_filters]
        if len(decoder_filters) != len(spec):
            raise ConfigError(f"decoder_filters has {len(decoder_filters)} entries, the decoder "
                              f"has {len(spec)} layers {spec}")
        spec = [(kind, k, f) for (kind, k, _), f in zip(spec, decoder_filters)]
    bad = [s for s in spec if s[0] not in ("conv", "up") or s[1] < 1 or s[2] < 1]
    if bad:
        raise ConfigError(f"bad decoder layers {bad}: expected (\"conv\"|\"up\", kernel, filters)")
    n_up = sum(kind == "up" for kind, _, _ in spec)
    if 2**n_up != VGG16_CUTS[cut]:
        raise ConfigError(f"cut {cut!r} has output stride {VGG16_CUTS[cut]} but the decoder "
                          f"upsamples by {2**n_up} ({n_up} transposed convolutions)")
    return spec


def build_vgg_fcn(*, n_classes: int = 3, cut: str = DEFAULT_CUT, weights=None,
                  input_channels: int = 3, decoder=None, decoder_filters: Sequence[int] | None = None,
                  freeze_encoder: bool = False, name: str = "vgg_fcn") -> keras.Model:
    """Build the VGG16-FCN: (N, H, W, C) raw pixels -> (N, H, W, n_classes) softmax probabilities.

    Args:
        n_classes: output channels (cancer, stroma, background = 3).
        cut: last VGG16 layer kept, a key of :data:`VGG16_CUTS`. Default
            ``"block3_conv2"`` (Fig. 6); ``"block2_conv2"`` for Experiments 1-3.
        weights: None (random init), a VGG16 weights file in either Keras layout, or
            ``"imagenet"`` (Keras' own download); see :func:`load_vgg16_weights`.
        input_channels: C. With C == 3 the input is RGB and VGG preprocessing
            is applied; otherwise the input passes unchanged (and ``weights``
            cannot be used, block1_conv1 would not match).
        decoder: a key of :data:`PAPER_DECODERS` or a sequence of
            ``(kind, kernel, filters)`` with kind "conv" or "up". Default:
            "final" for stride-4 cuts, "exp3" for stride-2 cuts.
        decoder_filters: replaces the filter counts of ``decoder``, one per
            layer (e.g. narrower decoders for tests).
        freeze_encoder: make the VGG layers non-trainable.
        name: model name.

    Raises:
        ConfigError: unknown cut/decoder, or the decoder's upsampling does not
            undo the cut's stride.
    """
    if cut not in VGG16_CUTS:
        raise ConfigError(f"unknown VGG16 cut {cut!r}; choose one of {list(VGG16_CUTS)}")
    spec = _decoder_spec(decoder, decoder_filters, cut)
    if weights is not None and input_channels != 3:
        raise ConfigError(f"VGG16 weights need 3 input channels, got input_channels={input_channels}")
    stride = VGG16_CUTS[cut]

    inputs = keras.Input((None, None, input_channels), name="image")
    x = VGGPreprocess(name="vgg_preprocess")(inputs) if input_channels == 3 else inputs
    if stride > 1:
        x = PadToMultiple(stride, name="pad")(x)
    # Only the layer configs are used; they do not depend on the channel count.
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    for layer in vgg.layers[1:]:  # fresh copies: one graph node each, same names and configs
        layer = type(layer).from_config(layer.get_config())
        layer.trainable = not freeze_encoder
        x = layer(x)
        if layer.name == cut:
            break
    conv_i = up_i = 0
    for kind, kernel, filters in spec:
        if kind == "conv":
            conv_i += 1
            x = layers.Conv2D(filters, kernel, padding="same", activation="relu",
                              kernel_initializer="he_normal", name=f"decoder_conv{conv_i}")(x)
        else:
            up_i += 1
            x = layers.Conv2DTranspose(filters, kernel, strides=2, padding="same", activation="relu",
                                       kernel_initializer="he_normal", name=f"decoder_up{up_i}")(x)
    x = layers.Conv2D(n_classes, 3, padding="same", name="logits")(x)
    if stride > 1:
        x = CropToMatch(name="crop")([x, inputs])
    outputs = layers.Softmax(axis=-1, dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_vgg16_weights(model, weights)
    return model


#: ``weights`` value that takes Keras' own ImageNet VGG16 (downloaded once into ~/.keras).
IMAGENET = "imagenet"


def load_vgg16_weights(model_or_encoder: keras.Model, path) -> list[str]:
    """Copy VGG16 convolution weights from a local file (or Keras' ImageNet download) into
    matching layers.

    Args:
        model_or_encoder: any model whose layers are named like VGG16's
            (``block1_conv1`` ...); layers with other names are left alone.
        path: a VGG16 weights file in either Keras layout
            (:func:`irpath.io.keras_weights.read_weights_file`): Keras 3 ``.weights.h5``
            (``VGG16(weights=None).save_weights``) or Keras 2's legacy h5 (e.g.
            ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``), with or without the
            top (dense layers are ignored); or ``"imagenet"``: Keras' own ImageNet
            weights, downloaded once into its cache (needs the network).

    Returns:
        The names of the layers that received weights.

    Raises:
        MissingFileError: ``path`` does not exist.
        DataFileError: the file is not VGG16 weights.
        ShapeError: the model has no VGG16 layers, or one of them has a different shape.
    """
    path = str(path)
    if path == IMAGENET:  # Keras' own download and cache (~/.keras/models); never in tests
        vgg = keras.applications.VGG16(include_top=False, weights=IMAGENET, input_shape=(None, None, 3))
        weights = {layer.name: layer.get_weights() for layer in vgg.layers
                   if layer.name in VGG16_CONV_LAYERS}
    else:
        _, weights = read_weights_file(path, VGG16)
    return set_layer_weights(model_or_encoder, weights, path)

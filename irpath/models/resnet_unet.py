"""ResNet34 encoder + U-Net decoder (Qu et al. 2019, Fig. 1; authors' ``ResUNet34``).

Keras has no ResNet34, so the trunk is built here with torchvision's layout:
7x7/2 conv (64) + BN + ReLU, 3x3/2 max-pool, then four stages of basic blocks
([3, 4, 6, 3] blocks of 64, 128, 256, 512 filters; the first block of stages 2-4
has stride 2 and a 1x1/2 conv + BN shortcut). Paddings are explicit and
symmetric as in PyTorch (not Keras' asymmetric 'same' for strides), and convs
have no bias, so ImageNet weights converted from torchvision load one-to-one;
the trunk has 21,284,672 trainable parameters (torchvision's resnet34 without
its fc layer). BatchNorm uses PyTorch's epsilon 1e-5 and momentum (PyTorch 0.1 =
Keras 0.9), as the authors trained: moving statistics catch up within tens of
steps, where Keras' default 0.99 lags hundreds.

The decoder follows the authors' code: four up-blocks, each a 2x2/2 transposed
conv, concatenation with the encoder map of that scale (stage 3, 2, 1 outputs and
the stem's /2 map), then two 3x3 conv -> ReLU -> BN -> spatial dropout (0.1);
a final 2x2/2 transposed conv gives the ``n_outputs`` maps at full resolution,
then a softmax. (Up-convs here have ``decoder_filters[i]`` filters; the authors'
last one has 32 instead of 64.)
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers

from irpath.io.keras_weights import load_weights_file, network_of
from irpath.layers.padding import CropToMatch, PadToMultiple
from irpath.layers.precision import output_dtype

#: Basic blocks per stage and their filters (He et al. 2016, Table 1).
RESNET34_BLOCKS = (3, 4, 6, 3)
RESNET34_FILTERS = (64, 128, 256, 512)
#: ImageNet statistics of torchvision models, on [0, 255] pixels.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
ENCODER_NAME = "resnet34"
#: Total stride of the encoder: inputs are padded to a multiple of it.
STRIDE = 32
_BN_EPS, _BN_MOMENTUM = 1e-5, 0.9


def _bn(x, name):
    return layers.BatchNormalization(epsilon=_BN_EPS, momentum=_BN_MOMENTUM, name=name)(x)


def _conv(x, filters, kernel, stride, name):
    pad = kernel // 2
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, kernel, strides=stride, use_bias=False,
                         kernel_initializer="he_normal", name=name)(x)


def basic_block(x, filters: int, stride: int, name: str):
    """ResNet basic block: two 3x3 convs + BN with an identity (or 1x1 conv) shortcut."""
    shortcut = x
    y = layers.ReLU(name=f"{name}_relu1")(_bn(_conv(x, filters, 3, stride, f"{name}_conv1"), f"{name}_bn1"))
    y = _bn(_conv(y, filters, 3, 1, f"{name}_conv2"), f"{name}_bn2")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _bn(_conv(x, filters, 1, stride, f"{name}_down_conv"), f"{name}_down_bn")
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


def build_resnet34_encoder(input_channels: int = 3, *, name: str = ENCODER_NAME,
                           blocks=RESNET34_BLOCKS, filters=RESNET34_FILTERS) -> keras.Model:
    """The ResNet34 trunk (no pooling/fc head) returning five feature maps.

    Args:
        input_channels: channels of the (already normalised) input.
        name: model name (the U-Net finds its encoder by it).
        blocks, filters: basic blocks and filters of the four stages; the defaults
            are ResNet34's. Other values build a smaller trunk of the same layout,
            for tests on a busy CPU only (the stem keeps ``filters[0]`` filters).

    Returns:
        A model (N, H, W, C) -> [stem (N, H/2, W/2, 64), stage1 (H/4, 64),
        stage2 (H/8, 128), stage3 (H/16, 256), stage4 (H/32, 512)]; H and W
        must be multiples of 32 for the decoder to line up.
    """
    inputs = keras.Input((None, None, input_channels), name=f"{name}_input")
    if len(blocks) != 4 or len(filters) != 4 or min(blocks) < 1 or min(filters) < 1:
        raise ValueError(f"blocks and filters need 4 positive values, got {blocks}, {filters}")
    x = _bn(_conv(inputs, int(filters[0]), 7, 2, "conv1"), "bn1")
    stem = x = layers.ReLU(name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool_pad")(x)  # after ReLU, so 0-padding == -inf padding
    x = layers.MaxPooling2D(3, strides=2, name="pool")(x)
    outputs = [stem]
    for stage, (n_blocks, n_filters) in enumerate(zip(blocks, filters), start=1):
        for block in range(int(n_blocks)):
            stride = 2 if block == 0 and stage > 1 else 1
            x = basic_block(x, int(n_filters), stride, f"layer{stage}_{block}")
        outputs.append(x)
    return keras.Model(inputs, outputs, name=name)


def _decoder_conv(x, filters, dropout, name):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = _bn(x, f"{name}_bn")
    if dropout > 0:
        x = layers.SpatialDropout2D(dropout, name=f"{name}_drop")(x)
    return x


def build_resnet34_unet(*, n_outputs: int = 5, encoder_weights=None,
                        decoder_filters=(256, 128, 64, 64), dropout: float = 0.1,
                        input_channels: int = 3, name: str = "resnet34_unet",
                        encoder_blocks=RESNET34_BLOCKS, encoder_filters=RESNET34_FILTERS) -> keras.Model:
    """The prediction network: raw RGB in [0, 255] -> (N, H, W, n_outputs) softmax maps.

    ImageNet mean/std normalisation happens inside; inputs of any H, W are
    zero-padded (after normalisation) to a multiple of 32 and the output cropped back.

    Args:
        n_outputs: output maps (5: background, 3 inner classes, contour).
        encoder_weights: a ResNet34 encoder weights file (:func:`load_encoder_weights`),
            e.g. converted ImageNet weights, or None for random initialisation.
        decoder_filters: filters of the four up-blocks, deepest first (authors: 256, 128, 64, 64).
        dropout: spatial dropout rate after each decoder conv (authors: 0.1).
        input_channels: image channels (3 for RGB; normalisation needs 3).
        name: model name.
        encoder_blocks, encoder_filters: the trunk's stages (default ResNet34's; see
            :func:`build_resnet34_encoder`).
    """
    if len(decoder_filters) != 4:
        raise ValueError(f"decoder_filters needs 4 values, got {decoder_filters}")
    inputs = keras.Input((None, None, input_channels), name="image")
    x = layers.Normalization(mean=list(IMAGENET_MEAN), variance=[s * s for s in IMAGENET_STD],
                             name="imagenet_norm")(inputs)
    x = PadToMultiple(STRIDE, name="pad")(x)
    encoder = build_resnet34_encoder(input_channels, blocks=encoder_blocks, filters=encoder_filters)
    if encoder_weights is not None:
        load_encoder_weights(encoder, encoder_weights)
    stem, c2, c3, c4, x = encoder(x)
    for i, (filters, skip) in enumerate(zip(decoder_filters, (c4, c3, c2, stem))):
        x = layers.Conv2DTranspose(filters, 2, strides=2, kernel_initializer="he_normal",
                                   name=f"up{i}_upconv")(x)
        x = layers.Concatenate(name=f"up{i}_concat")([x, skip])
        x = _decoder_conv(x, filters, dropout, f"up{i}_1")
        x = _decoder_conv(x, filters, dropout, f"up{i}_2")
    x = layers.Conv2DTranspose(n_outputs, 2, strides=2, kernel_initializer="he_normal", name="logits")(x)
    x = CropToMatch(name="crop")([x, inputs])
    outputs = layers.Softmax(name="probabilities", dtype=output_dtype())(x)
    return keras.Model(inputs, outputs, name=name)


def _encoder_of(model: keras.Model) -> keras.Model:
    try:
        return model if model.name == ENCODER_NAME else model.get_layer(ENCODER_NAME)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no {ENCODER_NAME!r} encoder") from None


def save_encoder_weights(model: keras.Model, path) -> Path:
    """Save the ResNet34 encoder's weights (of a U-Net or a bare encoder) to ``path``.

    ``path`` must end in ``.weights.h5`` (Keras 3's weights format).
    """
    path = Path(path)
    _encoder_of(model).save_weights(path)
    return path


def load_encoder_weights(model: keras.Model, path) -> list[str]:
    """Load ResNet34 encoder weights into ``model``'s encoder (a U-Net or a bare encoder).

    Args:
        model: the U-Net or its encoder.
        path: the encoder's weights in either Keras layout
            (:func:`irpath.io.keras_weights.read_weights_file`): Keras 3 ``.weights.h5``
            (:func:`save_encoder_weights`) or Keras 2's legacy h5 with the same layer names.

    Returns:
        The names of the encoder layers that received weights.

    Raises:
        MissingFileError: ``path`` does not exist.
        DataFileError: ``path`` is not the weights of this encoder (another network, or
            other widths, e.g. a whole U-Net).
    """
    encoder = _encoder_of(model)
    return load_weights_file(encoder, path, network_of(encoder, "ResNet34 encoder"))

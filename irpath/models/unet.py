"""The U-Net of Ronneberger et al. (2015), with 'same' padding.

'same' padding (instead of the original 'valid') keeps the activation map the
size of the input, so every pixel of a spot gets an activation and encoder and
decoder maps concatenate without cropping. Inputs must then have H and W
divisible by 2**depth; :func:`irpath.models.compsegnet.build_segmenter` pads.
"""

from __future__ import annotations

import keras
from keras import layers
from irpath.layers.precision import output_dtype


def _norm(x, norm: str, name: str):
    # momentum 0.9: with ~10 steps per epoch the moving statistics used at
    # validation/inference catch up within an epoch (Keras' 0.99 lags ~10 epochs).
    if norm == "batch":
        return layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    if norm == "group":
        channels = x.shape[-1]
        groups = max(g for g in (8, 4, 2, 1) if channels % g == 0)
        return layers.GroupNormalization(groups=groups, name=f"{name}_gn")(x)
    return x


def conv_block(x, filters: int, *, activation: str, norm: str, name: str):
    """Two 3x3 convolutions, each followed by (optional) normalisation and the activation."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal",
                          use_bias=norm == "none", name=f"{name}_conv{i}")(x)
        x = _norm(x, norm, f"{name}_{i}")
        x = layers.Activation(activation, name=f"{name}_act{i}")(x)
    return x


def unet_features(x, *, filters: int = 64, depth: int = 4, activation: str = "softplus",
                  norm: str = "none"):
    """U-Net trunk: (N, H, W, C) -> (N, H, W, filters) decoder features.

    Args:
        x: input tensor; H and W divisible by 2**depth.
        filters: filters at the first level; level i has filters * 2**i.
        depth: number of 2x2 max-poolings (the original U-Net has 4).
        activation: activation of every convolution (CompSegNet: softplus).
        norm: "none", "batch" or "group".
    """
    skips = []
    for level in range(depth):
        x = conv_block(x, filters * 2**level, activation=activation, norm=norm, name=f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = conv_block(x, filters * 2**depth, activation=activation, norm=norm, name="bottom")
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(filters * 2**level, 2, strides=2, activation=activation,
                                   kernel_initializer="he_normal", name=f"upconv{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([skips[level], x])
        x = conv_block(x, filters * 2**level, activation=activation, norm=norm, name=f"up{level}")
    return x


def activation_map_head(x, *, bias: float = 0.0, name: str = "activation_map"):
    """1x1 convolution to one sigmoid channel: (N, H, W, F) -> (N, H, W, 1) in [0, 1].

    The kernel starts at zero and the bias at ``bias``, so every pixel starts
    at sigmoid(bias) whatever the trunk computes (see models/compsegnet/README.md).
    Under a mixed policy the head is float32 (Keras' mixed-precision rule: the
    output activation in float32).
    """
    return layers.Conv2D(1, 1, activation="sigmoid", kernel_initializer="zeros",
                         bias_initializer=keras.initializers.Constant(bias), dtype=output_dtype(),
                         name=name)(x)

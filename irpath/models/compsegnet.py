"""CompSegNet (Schuhmacher et al. 2019): a segmenting U-Net pooled by one neuron.

``build_segmenter`` makes the U-Net that is kept after training: raw cube in,
activation map out, preprocessing inside. ``build_compsegnet`` wraps it with the
pooling neuron p for weakly supervised training on spot labels;
``extract_segmenter`` takes the U-Net back out. The builders take plain keyword
arguments; :func:`irpath.methods.compsegnet.config.build_from_config` maps a
``CompSegNetConfig`` onto them.
"""

from __future__ import annotations

import keras

from irpath.layers import (CropToMatch, DihedralTransform, PadChannels, PadToMultiple, PoolingNeuron,
                           SpectralStandardise, TissueNoise)
from irpath.layers.precision import output_dtype
from irpath.models.unet import activation_map_head, unet_features

SEGMENTER_NAME = "segmenter"


def build_segmenter(mean, std, *, in_channels: int = 450, filters: int = 64, depth: int = 4,
                    norm: str = "none", map_bias: float = 0.0, preprocess=None,
                    axis=None, input_noise: float = 0.0) -> keras.Model:
    """The U-Net segmenter: (N, H, W, C) raw cube -> (N, H, W, 1) activation map in [0, 1].

    Any H and W work: the cube is zero-padded to a multiple of 2**depth and the
    map cropped back. Preprocessing (NaN -> 0, per-channel standardisation with
    ``mean``/``std``, background kept at 0) is part of the model.

    Under a mixed-precision global policy (:mod:`irpath.layers.precision`) the
    preprocessing and the map head stay float32 (raw absorbances differ in their
    third digit, which bfloat16 would round away), the U-Net computes in
    float16/bfloat16, and the standardised cube gets zero channels up to a
    multiple of 8 (450 -> 456) for tensor cores. Under float32 nothing changes.

    Args:
        mean, std: (C,) channel statistics over training tissue pixels.
        in_channels: C.
        filters, depth, norm: U-Net size (paper: 64, 4, none).
        map_bias: initial logit of every pixel of the map.
        preprocess: spectral preprocessing steps (a ``PreprocessSpec`` dict; None/{} =
            none), run as fixed layers before the standardisation; ``mean``/``std``
            must then be statistics of preprocessed spectra.
        axis: (C,) wavenumbers, needed for the amide I min-max.
        input_noise: > 0 adds :class:`irpath.layers.TissueNoise` after the
            standardisation (training only).
    """
    from irpath.layers.spectral_preprocess import preprocessing_layers
    from irpath.layers.precision import reduced_precision

    cube = keras.Input(shape=(None, None, in_channels), name="cube")
    x = cube
    for layer in preprocessing_layers(preprocess, axis, dtype=output_dtype()):
        x = layer(x)
    x = SpectralStandardise(mean, std, name="standardise", dtype=output_dtype())(x)
    if input_noise > 0:
        x = TissueNoise(input_noise, name="input_noise", dtype=output_dtype())(x)
    if reduced_precision():
        x = PadChannels(8, name="pad_channels")(x)
    x = PadToMultiple(2**depth, name="pad")(x)
    x = unet_features(x, filters=filters, depth=depth, activation="softplus", norm=norm)
    amap = activation_map_head(x, bias=map_bias)
    amap = CropToMatch(name="crop", dtype=output_dtype())([amap, cube])
    return keras.Model(cube, amap, name=SEGMENTER_NAME)


def build_compsegnet(segmenter: keras.Model, *, alpha: float = 0.1, beta: float = 5.0,
                     gamma: float = 0.001, device_augment: bool = False) -> keras.Model:
    """Wrap a segmenter with the pooling neuron p.

    Inputs ``{"cube": (N, H, W, C), "tissue": (N, H, W, 1)}``; output (N,) o(I),
    float32 under any policy. With ``device_augment`` a third input ``"dihedral"``
    (N,) int32 names each sample's flip/turn (0 = none), applied to cube and
    tissue by :class:`irpath.layers.DihedralTransform` on the replica's device
    before the segmenter (the pipeline's ``make_dataset(device_augment=True)``
    supplies it); the pooled o(I) of a spot does not depend on its orientation,
    so the label needs no transform.
    """
    cube = keras.Input(shape=segmenter.input_shape[1:], name="cube")
    tissue = keras.Input(shape=(None, None, 1), name="tissue")
    inputs = {"cube": cube, "tissue": tissue}
    x, t = cube, tissue
    if device_augment:
        inputs["dihedral"] = keras.Input(shape=(), dtype="int32", name="dihedral")
        x, t = DihedralTransform(name="dihedral_augment", dtype=output_dtype())(
            [cube, tissue, inputs["dihedral"]])
    amap = segmenter(x)
    out = PoolingNeuron(alpha=alpha, beta=beta, gamma=gamma, name="pooling_neuron",
                        dtype=output_dtype())([amap, t])
    return keras.Model(inputs, out, name="compsegnet")


def extract_segmenter(compsegnet: keras.Model) -> keras.Model:
    """The trained U-Net inside a CompSegNet (shares its weights)."""
    return compsegnet.get_layer(SEGMENTER_NAME)

import re

import keras
import numpy as np
import pytest

from irpath.errors import DataFileError, MissingFileError
from irpath.models.resnet_unet import (IMAGENET_MEAN, IMAGENET_STD, build_resnet34_encoder, build_resnet34_unet,
                                       load_encoder_weights, save_encoder_weights)

#: torchvision resnet34: 21,797,672 parameters, minus its fc layer (512 * 1000 + 1000).
TORCHVISION_TRUNK = 21_797_672 - (512 * 1000 + 1000)


@pytest.fixture(scope="module")
def encoder():
    return build_resnet34_encoder()


@pytest.fixture(scope="module")
def unet():
    return build_resnet34_unet(decoder_filters=(16, 16, 8, 8))


def test_block_structure(encoder):
    blocks = {}
    for layer in encoder.layers:
        m = re.fullmatch(r"layer(\d)_(\d+)_add", layer.name)
        if m:
            blocks[int(m.group(1))] = blocks.get(int(m.group(1)), 0) + 1
    assert blocks == {1: 3, 2: 4, 3: 6, 4: 3}
    strides = {name: encoder.get_layer(name).strides for name in
               ("conv1", "layer1_0_conv1", "layer2_0_conv1", "layer2_0_down_conv", "layer2_1_conv1",
                "layer3_0_conv1", "layer4_0_conv1")}
    assert strides == {"conv1": (2, 2), "layer1_0_conv1": (1, 1), "layer2_0_conv1": (2, 2),
                       "layer2_0_down_conv": (2, 2), "layer2_1_conv1": (1, 1),
                       "layer3_0_conv1": (2, 2), "layer4_0_conv1": (2, 2)}
    with pytest.raises(ValueError):
        encoder.get_layer("layer1_0_down_conv")  # stage 1 keeps the identity shortcut


def test_output_shapes_and_parameter_count(encoder):
    outs = encoder(np.zeros((1, 64, 96, 3), np.float32))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 48, 64), (1, 16, 24, 64), (1, 8, 12, 128),
                                             (1, 4, 6, 256), (1, 2, 3, 512)]
    trainable = sum(int(np.prod(w.shape)) for w in encoder.trainable_weights)
    assert trainable == TORCHVISION_TRUNK == 21_284_672


def test_unet_any_size_gives_softmax_maps(unet, rng):
    x = (rng.random((2, 37, 45, 3)) * 255).astype(np.float32)
    y = np.asarray(unet(x))
    assert y.shape == (2, 37, 45, 5)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    # ImageNet normalisation is inside: the mean colour (std 1 px level apart) maps to 0 (1)
    norm = keras.Model(unet.input, unet.get_layer("imagenet_norm").output)
    mean = np.array(IMAGENET_MEAN, np.float32)
    z = np.asarray(norm(np.stack([np.broadcast_to(mean, (4, 4, 3)),
                                  np.broadcast_to(mean + np.array(IMAGENET_STD), (4, 4, 3))])))
    np.testing.assert_allclose(z[0], 0.0, atol=1e-4)
    np.testing.assert_allclose(z[1], 1.0, atol=1e-4)


def test_encoder_weights_round_trip(unet, tmp_path):
    path = save_encoder_weights(unet, tmp_path / "enc.weights.h5")
    other = build_resnet34_unet(decoder_filters=(8, 8, 8, 8), encoder_weights=path)
    for a, b in zip(unet.get_layer("resnet34").get_weights(), other.get_layer("resnet34").get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = build_resnet34_encoder()
    assert not np.array_equal(fresh.get_layer("conv1").get_weights()[0],
                              unet.get_layer("resnet34").get_layer("conv1").get_weights()[0])
    load_encoder_weights(fresh, path)
    np.testing.assert_array_equal(fresh.get_layer("conv1").get_weights()[0],
                                  unet.get_layer("resnet34").get_layer("conv1").get_weights()[0])


def test_wrong_weight_files(unet, tmp_path):
    with pytest.raises(MissingFileError, match="missing.weights.h5"):
        load_encoder_weights(unet, tmp_path / "missing.weights.h5")
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(DataFileError, match="junk.weights.h5"):
        load_encoder_weights(unet, junk)
    whole = tmp_path / "whole.weights.h5"
    unet.save_weights(whole)  # a whole U-Net is not an encoder
    with pytest.raises(DataFileError, match=r"whole\.weights\.h5: not ResNet34 encoder weights "
                                            r"\(keras3 layout\): 0 of its"):
        load_encoder_weights(unet, whole)

"""One weight loader for VGG16 and ResNet34, in both Keras layouts: Keras 3 ``.weights.h5``
and Keras 2's legacy h5 (the ``*_notop.h5`` ``keras.applications.VGG16(weights="imagenet")``
downloads), all written here from randomly initialised networks; never downloaded."""

import h5py
import keras
import numpy as np
import pytest

from irpath.errors import DataFileError
from irpath.io.keras_weights import VGG16, read_weights_file
from irpath.losses.perceptual import build_vgg16_features
from irpath.models.resnet_unet import build_resnet34_unet, load_encoder_weights, save_encoder_weights
from irpath.models.vgg_fcn import build_vgg_fcn, load_vgg16_weights
from tests.io.keras_weight_files import strip_layer_names, write_legacy_h5

TINY = (8, 8, 8, 8, 8, 8)
NOTOP = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG_FILES = [("vgg16_notop.weights.h5", "keras3"), ("old_keras3.weights.h5", "keras3"), (NOTOP, "legacy")]


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    keras.utils.set_random_seed(5)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    folder = tmp_path_factory.mktemp("vgg_layouts")
    vgg.save_weights(folder / "vgg16_notop.weights.h5")
    vgg.save_weights(folder / "old_keras3.weights.h5")
    strip_layer_names(folder / "old_keras3.weights.h5")
    write_legacy_h5(vgg, folder / NOTOP, notop_names=True)
    return vgg, folder


@pytest.mark.parametrize("name, layout", VGG_FILES)
def test_fcn_encoder_loads_every_layout(vgg_files, name, layout):
    vgg, folder = vgg_files
    assert read_weights_file(folder / name, VGG16)[0] == layout
    model = build_vgg_fcn(weights=folder / name, decoder_filters=TINY)
    loaded = [layer for layer in model.layers if layer.name.startswith("block") and "conv" in layer.name]
    assert len(loaded) == 6  # the default cut: block1_conv1 ... block3_conv2
    for layer in loaded:
        for got, want in zip(layer.get_weights(), vgg.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", [NOTOP, "old_keras3.weights.h5"])
def test_perceptual_vgg_reads_the_same_features_from_every_layout(vgg_files, name, rng):
    _, folder = vgg_files
    x = np.float32(rng.random((1, 16, 16, 3)) * 50)
    reference = build_vgg16_features(folder / "vgg16_notop.weights.h5")(x)
    for a, b in zip(build_vgg16_features(folder / name)(x), reference):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_legacy_file_with_a_wrong_kernel_is_refused(vgg_files, tmp_path):
    vgg, _ = vgg_files
    path = write_legacy_h5(vgg, tmp_path / "bad_notop.h5", notop_names=True)
    with h5py.File(path, "r+") as f:
        del f["block2_conv1"]["block2_conv1_W_1:0"]
        f["block2_conv1"].create_dataset("block2_conv1_W_1:0", data=np.zeros((3, 3, 64, 7), np.float32))
    model = build_vgg_fcn(cut="block1_conv2", decoder=(("conv", 3, 4),))
    with pytest.raises(DataFileError, match=r"bad_notop\.h5: not VGG16 weights \(legacy layout\): "
                                            r"12 of its 13 layers match; layer block2_conv1 has"):
        load_vgg16_weights(model, path)
    with pytest.raises(DataFileError, match=r"bad_notop\.h5: not VGG16 weights"):
        build_vgg16_features(path)


def _tiny_unet(seed):
    keras.utils.set_random_seed(seed)
    return build_resnet34_unet(decoder_filters=(4, 4, 4, 4), encoder_blocks=(1, 1, 1, 1),
                               encoder_filters=(4, 4, 4, 4))


@pytest.mark.parametrize("layout", ["keras3", "keras3 without names", "legacy"])
def test_resnet34_encoder_loads_every_layout(tmp_path, layout):
    donor = _tiny_unet(1)
    if layout == "legacy":
        path = write_legacy_h5(donor.get_layer("resnet34"), tmp_path / "encoder.h5")
    else:
        path = save_encoder_weights(donor, tmp_path / "encoder.weights.h5")
        if layout != "keras3":
            strip_layer_names(path)
    model = build_resnet34_unet(decoder_filters=(4, 4, 4, 4), encoder_blocks=(1, 1, 1, 1),
                                encoder_filters=(4, 4, 4, 4), encoder_weights=path)
    for a, b in zip(donor.get_layer("resnet34").get_weights(), model.get_layer("resnet34").get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded = load_encoder_weights(model, path)
    assert "conv1" in loaded and "bn1" in loaded and len(loaded) == len(
        [layer for layer in model.get_layer("resnet34").layers if layer.weights])
    x = np.float32(np.random.default_rng(0).random((1, 32, 32, 3)) * 255)
    np.testing.assert_allclose(np.asarray(model.get_layer("resnet34")(x)[-1]),
                               np.asarray(donor.get_layer("resnet34")(x)[-1]), rtol=1e-5, atol=1e-5)


def test_resnet34_refuses_other_networks_and_widths(vgg_files, tmp_path):
    _, folder = vgg_files
    model = _tiny_unet(3)
    for path, words in [(folder / NOTOP, "legacy layout"),
                        (save_encoder_weights(build_resnet34_unet(
                            decoder_filters=(4, 4, 4, 4), encoder_blocks=(1, 1, 1, 1),
                            encoder_filters=(8, 8, 8, 8)), tmp_path / "wide.weights.h5"), "has")]:
        with pytest.raises(DataFileError, match=rf"{path.name}: not ResNet34 encoder weights .*{words}"):
            load_encoder_weights(model, path)

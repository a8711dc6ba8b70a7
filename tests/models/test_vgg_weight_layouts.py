"""VGG16 weights in both Keras layouts (issue 23): Keras 3 ``.weights.h5`` and Keras 2's legacy
h5 (the ``*_notop.h5`` ``keras.applications.VGG16(weights="imagenet")`` downloads), both written
here from one randomly initialised VGG16; never downloaded."""

import h5py
import keras
import numpy as np
import pytest

from irpath.errors import DataFileError
from irpath.models.vgg_fcn import build_vgg_fcn, load_vgg16_weights, vgg16_file_layout

TINY = (8, 8, 8, 8, 8, 8)


def write_legacy_h5(model, path):
    """Weights the way Keras 2 wrote them (``save_weights("x.h5")``): root attributes
    ``layer_names`` / ``backend`` / ``keras_version``, one group per layer with
    ``weight_names`` ``<layer>_W_1:0`` / ``<layer>_b_1:0`` (as in Keras' notop file)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5"
        for layer in model.layers:
            group = f.create_group(layer.name)
            values = layer.get_weights()
            names = [f"{layer.name}_{k}_1:0".encode() for k in ("W", "b")[:len(values)]]
            group.attrs["weight_names"] = names
            for name, value in zip(names, values):
                group.create_dataset(name.decode(), data=value)
    return path


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    keras.utils.set_random_seed(5)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    folder = tmp_path_factory.mktemp("vgg_layouts")
    vgg.save_weights(folder / "vgg16_notop.weights.h5")
    write_legacy_h5(vgg, folder / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    return vgg, folder


@pytest.mark.parametrize("name, layout", [("vgg16_notop.weights.h5", "keras3"),
                                          ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "legacy")])
def test_both_layouts_load_the_same_weights(vgg_files, name, layout):
    vgg, folder = vgg_files
    assert vgg16_file_layout(str(folder / name)) == (layout, False)
    model = build_vgg_fcn(weights=folder / name, decoder_filters=TINY)
    loaded = [layer for layer in model.layers if layer.name.startswith("block") and "conv" in layer.name]
    assert len(loaded) == 6  # the default cut: block1_conv1 ... block3_conv2
    for layer in loaded:
        for got, want in zip(layer.get_weights(), vgg.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)


def test_legacy_file_with_a_wrong_kernel_is_refused(vgg_files, tmp_path):
    vgg, _ = vgg_files
    path = write_legacy_h5(vgg, tmp_path / "bad_notop.h5")
    with h5py.File(path, "r+") as f:
        del f["block2_conv1"]["block2_conv1_W_1:0"]
        f["block2_conv1"].create_dataset("block2_conv1_W_1:0", data=np.zeros((3, 3, 64, 7), np.float32))
    model = build_vgg_fcn(cut="block1_conv2", decoder=(("conv", 3, 4),))
    with pytest.raises(DataFileError, match=r"bad_notop\.h5: not VGG16 weights \(legacy layout\)"):
        load_vgg16_weights(model, path)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(DataFileError, match=r"plain\.h5: neither Keras 3"):
        load_vgg16_weights(model, tmp_path / "plain.h5")

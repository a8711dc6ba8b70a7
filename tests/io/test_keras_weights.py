"""Keras weight files read layer by layer in both layouts, with one-line refusals."""

import h5py
import keras
import numpy as np
import pytest

from irpath.errors import DataFileError, MissingFileError, ShapeError
from irpath.io.keras_weights import (VGG16, class_key, load_weights_file, network_of,
                                     read_weights_file, set_layer_weights)
from tests.io.keras_weight_files import strip_layer_names, write_legacy_h5


def _small(seed=0, width=4):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(width, 3, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(2, 1, use_bias=False, name="head")(x)
    model = keras.Model(inputs, x, name="small")
    model.get_layer("stem_bn").set_weights([np.float32(np.arange(width) + k) for k in range(4)])
    return model


def _assert_same(a, b):
    for la, lb in zip(a.layers, b.layers):
        for wa, wb in zip(la.get_weights(), lb.get_weights()):
            np.testing.assert_array_equal(wa, wb)


def test_class_keys_and_network_match_what_keras_writes(tmp_path):
    assert [class_key(n) for n in ("Conv2D", "BatchNormalization", "ZeroPadding2D", "Conv2DTranspose")] \
        == ["conv2d", "batch_normalization", "zero_padding2d", "conv2d_transpose"]
    model = _small()
    net = network_of(model, "small")
    assert [(layer.name, layer.key) for layer in net.layers] == [
        ("stem", "conv2d"), ("stem_bn", "batch_normalization"), ("head", "conv2d_1")]
    assert net.layers[1].shapes == ((4,),) * 4
    model.save_weights(tmp_path / "s.weights.h5")
    with h5py.File(tmp_path / "s.weights.h5") as f:
        assert {"conv2d", "batch_normalization", "conv2d_1"} <= set(f["layers"])


@pytest.mark.parametrize("layout", ["keras3", "keras3 without names", "legacy"])
def test_every_layout_round_trips(tmp_path, layout):
    donor, fresh = _small(1), _small(2)
    assert not np.array_equal(donor.get_layer("stem").get_weights()[0],
                              fresh.get_layer("stem").get_weights()[0])
    if layout == "legacy":
        path = write_legacy_h5(donor, tmp_path / "s.h5")
    else:
        path = donor.save_weights(tmp_path / "s.weights.h5") or tmp_path / "s.weights.h5"
        if layout != "keras3":
            strip_layer_names(path)
    network = network_of(fresh, "small")
    assert read_weights_file(path, network)[0] == layout.split()[0]
    assert load_weights_file(fresh, path, network) == ["stem", "stem_bn", "head"]
    _assert_same(fresh, donor)


def test_wrong_files_are_refused_in_one_line(tmp_path):
    model = _small()
    network = network_of(model, "small")
    _small(width=5).save_weights(tmp_path / "wide.weights.h5")
    with pytest.raises(DataFileError) as err:
        read_weights_file(tmp_path / "wide.weights.h5", network)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'wide.weights.h5'}: not small weights "
                                              "(keras3 layout): 0 of its 3 layers match; layer stem has")
    with pytest.raises(DataFileError, match=r"vgg\.h5: not VGG16 weights \(legacy layout\): 0 of its 13"):
        read_weights_file(write_legacy_h5(model, tmp_path / "vgg.h5"), VGG16)
    (tmp_path / "junk.weights.h5").write_text("not hdf5")
    with pytest.raises(DataFileError, match=r"junk\.weights\.h5: cannot read as HDF5"):
        read_weights_file(tmp_path / "junk.weights.h5", network)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(DataFileError, match=r"plain\.h5: neither Keras 3"):
        read_weights_file(tmp_path / "plain.h5", network)
    with pytest.raises(MissingFileError, match=r"absent\.h5: small weights file not found"):
        read_weights_file(tmp_path / "absent.h5", network)


def test_set_layer_weights_checks_every_shape_before_setting(tmp_path):
    model = _small(3)
    before = [w.copy() for w in model.get_weights()]
    weights = {"stem": model.get_layer("stem").get_weights(), "head": [np.zeros((1, 1, 4, 3))]}
    weights["stem"] = [w + 1 for w in weights["stem"]]
    with pytest.raises(ShapeError, match=r"f\.h5: layer head has weight shapes"):
        set_layer_weights(model, weights, "f.h5")
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # stem was not set either
    with pytest.raises(ShapeError, match="has none of the layers"):
        set_layer_weights(model, {"block1_conv1": []}, "f.h5")

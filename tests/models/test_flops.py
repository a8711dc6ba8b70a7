import keras
import numpy as np
import pytest

from irpath.methods.compsegnet.config import CompSegNetConfig, build_from_config
from irpath.models.compsegnet import extract_segmenter
from irpath.models.flops import conv_flops


def _model(layer, shape):
    x = keras.Input(shape=shape)
    return keras.Model(x, layer(x))


def test_conv2d_same():
    model = _model(keras.layers.Conv2D(4, 3, padding="same"), (None, None, 2))
    assert conv_flops(model, (5, 5)) == 2 * 5 * 5 * 9 * 2 * 4


def test_conv2d_valid_counts_output_pixels_and_groups():
    model = _model(keras.layers.Conv2D(4, 3, padding="valid", groups=2), (None, None, 2))
    assert conv_flops(model, (5, 7)) == 2 * 3 * 5 * 9 * 1 * 4


def test_conv2d_transpose_counts_input_pixels_through_whole_kernel():
    up = _model(keras.layers.Conv2DTranspose(2, 2, strides=2), (None, None, 4))
    assert conv_flops(up, (3, 3)) == 2 * 3 * 3 * 4 * 4 * 2  # = 2 * 6*6 * 4 * 2 on the output
    wide = _model(keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same"), (None, None, 2))
    assert conv_flops(wide, (4, 4)) == 2 * 4 * 4 * 9 * 2 * 3


def test_sequential_with_dense():
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3),
                              keras.layers.Flatten(), keras.layers.Dense(5)])
    assert conv_flops(model, (6, 6)) == 2 * 4 * 4 * 9 * 1 * 2 + 2 * 32 * 5


def test_compsegnet_counts_nested_segmenter():
    cfg = CompSegNetConfig(in_channels=3, filters=2, depth=1)
    net = build_from_config(cfg, np.zeros(3), np.ones(3))
    h = w = 4
    expected = (2 * h * w * 9 * 3 * 2 + 2 * h * w * 9 * 2 * 2          # down0: 3 -> 2 -> 2
                + 2 * 2 * 2 * 9 * 2 * 4 + 2 * 2 * 2 * 9 * 4 * 4      # bottom at 2x2: 2 -> 4 -> 4
                + 2 * 2 * 2 * 4 * 4 * 2                              # upconv0: 2x2 in, k 2, 4 -> 2
                + 2 * h * w * 9 * 4 * 2 + 2 * h * w * 9 * 2 * 2      # up0: concat 4 -> 2 -> 2
                + 2 * h * w * 1 * 2 * 1)                             # 1x1 map head
    assert conv_flops(extract_segmenter(net), (h, w)) == expected
    assert conv_flops(net, (h, w)) == expected  # the pooling neuron is not counted
    assert conv_flops(net, (3, 3)) == expected  # 3x3 is padded to 4x4 inside the model


def test_fixed_input_size_mismatch_is_refused():
    model = _model(keras.layers.Conv2D(1, 1), (5, 5, 1))
    assert conv_flops(model, (5, 5)) == 2 * 25
    with pytest.raises(ValueError, match="fixed"):
        conv_flops(model, (4, 4))


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(1, 1)

        def call(self, x):
            return self.conv(x)

    x = keras.Input((None, None, 1))
    outer = keras.Model(x, Net()(x))
    with pytest.raises(ValueError, match="subclassed"):
        conv_flops(outer, (4, 4))

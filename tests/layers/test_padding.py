import keras
import numpy as np

from irpath.layers import CropToMatch, PadToMultiple
from tests.serialization import assert_layer_round_trip


def test_pad_then_crop_is_identity(rng):
    x = rng.random((2, 13, 7, 3)).astype(np.float32)
    padded = np.asarray(PadToMultiple(8)(x))
    assert padded.shape == (2, 16, 8, 3)
    np.testing.assert_array_equal(padded[:, :13, :7], x)
    assert not padded[:, 13:].any() and not padded[:, :, 7:].any()
    np.testing.assert_array_equal(np.asarray(CropToMatch()([padded, x])), x)


def test_no_padding_when_divisible(rng):
    x = rng.random((1, 16, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(PadToMultiple(8)(x)), x)


def test_round_trips(tmp_path, rng):
    x = rng.random((1, 5, 6, 2)).astype(np.float32)
    assert_layer_round_trip(PadToMultiple(4, name="pad"), x, tmp_path)
    ref = rng.random((1, 3, 2, 2)).astype(np.float32)
    assert_layer_round_trip(CropToMatch(name="crop"), [x, ref], tmp_path)
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(PadToMultiple(4))).multiple == 4

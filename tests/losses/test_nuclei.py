import math

import keras
import numpy as np
import pytest

from irpath.losses.nuclei import NucleiLoss, WeightedCrossEntropy, weighted_cross_entropy


def _probs(rng, shape):
    p = rng.random(shape).astype(np.float32) + 0.05
    return p / p.sum(-1, keepdims=True)


def test_hand_computed_value():
    y_pred = np.array([[[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]], np.float32)  # (1, 1, 2, 3)
    y_true = np.array([[[[0, 2.0], [1, 1.0]]]], np.float32)
    per_pixel = np.asarray(weighted_cross_entropy(y_true, y_pred))
    np.testing.assert_allclose(per_pixel, [[[-2 * math.log(0.5), -math.log(0.8)]]], rtol=1e-6)
    expected = (-2 * math.log(0.5) - math.log(0.8)) / 2  # eq. 1: mean over all pixels
    assert abs(float(WeightedCrossEntropy()(y_true, y_pred)) - expected) < 1e-6


def test_unit_weights_equal_sparse_categorical_ce(rng):
    y_pred = _probs(rng, (2, 4, 5, 5))
    cls = rng.integers(0, 5, (2, 4, 5))
    y_true = np.stack([cls, np.ones_like(cls)], -1).astype(np.float32)
    ref = keras.losses.SparseCategoricalCrossentropy()(cls, y_pred)
    np.testing.assert_allclose(float(WeightedCrossEntropy()(y_true, y_pred)), float(ref), rtol=1e-5)
    np.testing.assert_allclose(float(NucleiLoss(beta=0.0)(y_true, y_pred)), float(ref), rtol=1e-5)


def test_nuclei_loss_without_vgg_warns_and_is_ce(rng):
    y_pred = _probs(rng, (2, 8, 8, 5))
    y_true = np.stack([rng.integers(0, 5, (2, 8, 8)), 1 + 10 * rng.random((2, 8, 8))], -1).astype(np.float32)
    with pytest.warns(UserWarning, match="perceptual loss disabled"):
        loss = NucleiLoss(beta=0.1)
    np.testing.assert_allclose(float(loss(y_true, y_pred)),
                               float(WeightedCrossEntropy()(y_true, y_pred)), rtol=1e-6)
    clone = NucleiLoss.from_config(NucleiLoss(beta=0.0).get_config())
    assert clone.get_config() == NucleiLoss(beta=0.0).get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(clone))
    assert isinstance(restored, NucleiLoss) and restored.beta == 0.0


def test_compile_and_fit_reduce_the_loss(rng):
    keras.utils.set_random_seed(0)
    x = rng.random((8, 8, 8, 3)).astype(np.float32)
    cls = (x[..., 0] > 0.5).astype(np.float32) * 4  # contour where channel 0 is bright
    y = np.stack([cls, 1 + cls], -1)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(5, 1, activation="softmax")(inputs))
    model.compile(keras.optimizers.Adam(0.05), loss=NucleiLoss(beta=0.0))
    hist = model.fit(x, y, batch_size=4, epochs=15, verbose=0).history["loss"]
    assert np.all(np.isfinite(hist)) and hist[-1] < 0.5 * hist[0]

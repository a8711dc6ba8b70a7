import keras
import numpy as np
import pytest
import tensorflow as tf

from irpath.errors import DataFileError, MissingFileError
from irpath.losses.perceptual import PerceptualLoss, build_vgg16_features
from irpath.losses.nuclei import NucleiLoss, WeightedCrossEntropy


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("vgg") / "vgg16_notop.weights.h5"
    keras.applications.VGG16(weights=None, include_top=False).save_weights(path)
    return path


@pytest.fixture(scope="module")
def loss(vgg_file):
    return PerceptualLoss(vgg_weights=vgg_file)


def _targets(rng, n=2, size=32):
    cls = rng.integers(0, 5, (n, size, size))
    return np.stack([cls, np.ones_like(cls)], -1).astype(np.float32), cls


def test_zero_for_identical_positive_otherwise(loss, rng):
    y_true, cls = _targets(rng)
    perfect = np.eye(5, dtype=np.float32)[cls]
    assert float(loss(y_true, perfect)) == pytest.approx(0.0, abs=1e-6)
    noisy = 0.7 * perfect + 0.3 * np.float32(rng.random(perfect.shape))
    assert float(loss(y_true, noisy)) > 1e-3
    # only the contour channel matters
    other = perfect.copy()
    other[..., 0], other[..., 1] = perfect[..., 1], perfect[..., 0]
    assert float(loss(y_true, other)) == pytest.approx(0.0, abs=1e-6)


def test_matches_a_direct_computation(loss, vgg_file, rng):
    y_true, cls = _targets(rng)
    y_pred = np.float32(rng.random((2, 32, 32, 5)))
    feats = build_vgg16_features(vgg_file)
    scale = PerceptualLoss.DEFAULT_INPUT_SCALE
    fp = feats(np.repeat(y_pred[..., 4:5], 3, -1) * scale)
    ft = feats(np.repeat((cls == 4)[..., None], 3, -1).astype(np.float32) * scale)
    expected = np.mean([np.mean((np.asarray(a) - np.asarray(b)) ** 2) for a, b in zip(fp, ft)])
    np.testing.assert_allclose(float(loss(y_true, y_pred)), expected, rtol=1e-4)


def test_gradient_reaches_the_prediction(loss, rng):
    y_true, _ = _targets(rng, n=1, size=16)
    y_pred = tf.Variable(np.float32(rng.random((1, 16, 16, 5))))
    with tf.GradientTape() as tape:
        value = loss(y_true, y_pred)
    grad = tape.gradient(value, y_pred).numpy()
    assert np.abs(grad[..., 4]).max() > 0 and not grad[..., :4].any()
    assert not loss.features.trainable_weights


def test_disabled_without_weights_and_errors(tmp_path, rng):
    with pytest.warns(UserWarning, match="never downloaded"):
        off = PerceptualLoss()
    y_true, _ = _targets(rng, n=1, size=8)
    assert not off.enabled and float(off(y_true, np.float32(rng.random((1, 8, 8, 5))))) == 0.0
    with pytest.raises(MissingFileError, match="none.weights.h5"):
        PerceptualLoss(vgg_weights=tmp_path / "none.weights.h5")
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"junk")
    with pytest.raises(DataFileError, match="bad.weights.h5"):
        build_vgg16_features(bad)


def test_config_round_trip_and_combined_loss(loss, vgg_file, rng):
    clone = PerceptualLoss.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    y_true, _ = _targets(rng, n=1, size=16)
    y_true[..., 1] = 2.0
    y_pred = np.float32(rng.random((1, 16, 16, 5)))
    y_pred /= y_pred.sum(-1, keepdims=True)
    assert float(clone(y_true, y_pred)) == pytest.approx(float(loss(y_true, y_pred)), rel=1e-5)
    combined = NucleiLoss(beta=0.1, vgg_weights=vgg_file)
    expected = float(WeightedCrossEntropy()(y_true, y_pred)) + 0.1 * float(loss(y_true, y_pred))
    assert float(combined(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(combined))
    assert restored.get_config() == combined.get_config()

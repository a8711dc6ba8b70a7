import keras
import numpy as np
import pytest

from irpath.losses import ComparativeLoss, comparative_loss


def test_per_spot_terms():
    labels = np.array([1, 0, 1, 0], np.float32)
    o = np.array([0.1, 0.0, 0.04, 0.03], np.float32)
    np.testing.assert_allclose(np.asarray(comparative_loss(labels, o, alpha=0.1)),
                               [0.0, 0.0, 0.06, 0.03], atol=1e-7)


def test_keras_loss_is_the_papers_sum():
    labels = np.array([1, 0, 1], np.float32)
    o = np.array([0.02, 0.05, 0.101], np.float32)
    expected = abs(0.02 - 0.1) + 0.05 + abs(0.101 - 0.1)
    assert float(ComparativeLoss(alpha=0.1)(labels, o)) == pytest.approx(expected, rel=1e-5)


def test_perfect_outputs_give_zero_and_minimum():
    labels = np.array([1, 0], np.float32)
    loss = ComparativeLoss(alpha=0.2)
    assert float(loss(labels, np.array([0.2, 0.0], np.float32))) == pytest.approx(0.0, abs=1e-8)
    assert float(loss(labels, np.array([0.1, 0.1], np.float32))) == pytest.approx(0.2, rel=1e-5)


def test_serialisable():
    loss = ComparativeLoss(alpha=0.3)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, ComparativeLoss) and clone.alpha == 0.3


def test_loss_round_trips_through_a_keras_file(tmp_path):
    """A model compiled with the loss saves and reloads with the loss and its alpha intact."""
    inp = keras.Input((1,))
    model = keras.Model(inp, keras.layers.Dense(1)(inp))
    model.compile(optimizer="sgd", loss=ComparativeLoss(alpha=0.3))
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    loss = reloaded.loss
    assert isinstance(loss, ComparativeLoss) and loss.alpha == 0.3
    labels, o = np.array([1, 0], np.float32), np.array([0.1, 0.2], np.float32)
    assert float(loss(labels, o)) == pytest.approx(float(ComparativeLoss(alpha=0.3)(labels, o)))
    assert float(loss(labels, o)) == pytest.approx(abs(0.1 - 0.3) + 0.2, rel=1e-5)

def test_signed_form_equals_abs_below_alpha_and_rewards_past_it():
    import tensorflow as tf

    from irpath.layers.pooling_neuron import sigma_abg

    labels = np.array([1, 0, 1, 0], np.float32)
    o = np.array([0.04, 0.03, 0.1005, 0.0], np.float32)
    signed = np.asarray(comparative_loss(labels, o, alpha=0.1, signed=True))
    np.testing.assert_allclose(signed, [0.06, 0.03, -0.0005, 0.0], atol=1e-7)
    below = o < 0.1
    np.testing.assert_allclose(signed[below], np.asarray(comparative_loss(labels, o, alpha=0.1))[below])
    # through σ: the abs form pulls a cancer spot's pooled fraction back once σ passes α
    # (x* ≈ 0.145 for β = 5, γ = 0.001), the signed form keeps pushing it up (slope ≥ γ)
    for signed_form, sign in ((False, -1.0), (True, 1.0)):
        x = tf.Variable([0.3])
        with tf.GradientTape() as tape:
            loss = comparative_loss(np.array([1.0], np.float32), sigma_abg(x), alpha=0.1, signed=signed_form)
        step = -float(tape.gradient(loss, x)[0])  # gradient descent's direction for x
        assert np.sign(step) == sign and abs(step) >= 0.001 - 1e-6
    clone = keras.losses.deserialize(keras.losses.serialize(ComparativeLoss(alpha=0.2, signed=True)))
    assert clone.signed and clone.alpha == 0.2
    assert float(clone(labels, o)) == pytest.approx(float(np.sum(comparative_loss(labels, o, 0.2, True))))

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from irpath.losses.multiloss import (PriorWeightedSegLoss, multiloss_compile_args,
                                     prior_weighted_seg_loss)

# one 2x2 image: S gland mask, f prior, P_g gland probability (P_b = 1 - P_g)
S = np.array([[1, 0], [1, 1]], np.float32)
F = np.array([[0.5, 1.0], [1.0, 0.0]], np.float32)
PG = np.array([[0.8, 0.3], [0.6, 0.9]], np.float32)
# eq. 4 by hand, pixel by pixel: targets S·f = [[0.5, 0], [1, 0]]
LS_PRIOR = [-(0.5 * math.log(0.8) + 0.5 * math.log(0.2)), -math.log(0.7), -math.log(0.6),
            -math.log(0.1)]
LS_PLAIN = [-math.log(0.8), -math.log(0.7), -math.log(0.6), -math.log(0.9)]


def y_pred(with_prior=True):
    chans = [PG, 1 - PG] + ([F] if with_prior else [])
    return np.stack(chans, -1)[None]


def test_eq4_hand_values():
    got = prior_weighted_seg_loss(S[None, ..., None], y_pred())
    np.testing.assert_allclose(np.asarray(got), [np.mean(LS_PRIOR)], rtol=1e-6)
    total = prior_weighted_seg_loss(S[None], y_pred(), pixel_reduction="sum")
    np.testing.assert_allclose(np.asarray(total), [np.sum(LS_PRIOR)], rtol=1e-6)
    plain = prior_weighted_seg_loss(S[None, ..., None], y_pred(with_prior=False))
    np.testing.assert_allclose(np.asarray(plain), [np.mean(LS_PLAIN)], rtol=1e-6)
    # a prior of ones is plain cross-entropy; instance labels > 0 count as gland
    ones = y_pred().copy()
    ones[..., 2] = 1.0
    np.testing.assert_allclose(np.asarray(prior_weighted_seg_loss(7 * S[None], ones)),
                               [np.mean(LS_PLAIN)], rtol=1e-6)


def test_keras_loss_batch_mean_and_no_gradient_to_prior():
    loss = PriorWeightedSegLoss()
    yt = np.stack([S, 1 - S])[..., None]
    yp = np.concatenate([y_pred(), y_pred(with_prior=True)])
    # 1 - S = [[0, 1], [0, 0]] -> targets S·f = [[0, 1], [0, 0]]
    second = [-math.log(0.2), -math.log(0.3), -math.log(0.4), -math.log(0.1)]
    assert float(loss(yt, yp)) == pytest.approx((np.mean(LS_PRIOR) + np.mean(second)) / 2, rel=1e-6)
    yp_t = tf.constant(yp)
    with tf.GradientTape() as tape:
        tape.watch(yp_t)
        value = loss(yt, yp_t)
    grad = tape.gradient(value, yp_t).numpy()
    assert (grad[..., 2] == 0).all() and np.abs(grad[..., :2]).max() > 0


def test_loss_config_round_trip():
    loss = PriorWeightedSegLoss(pixel_reduction="sum", epsilon=1e-5, name="ls")
    clone = PriorWeightedSegLoss.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, PriorWeightedSegLoss) and again.pixel_reduction == "sum"
    with pytest.raises(ValueError, match="pixel_reduction"):
        PriorWeightedSegLoss(pixel_reduction="median")


def passthrough_model():
    scores = keras.Input((2,), name="scores_in")
    seg = keras.Input((2, 2, 3), name="seg_in")
    outputs = {"scores": keras.layers.Identity(name="scores")(scores),
               "segmentation": keras.layers.Identity(name="segmentation")(seg)}
    return keras.Model({"scores_in": scores, "seg_in": seg}, outputs)


@pytest.mark.parametrize("lam", [0.5, 0.2])
def test_joint_loss_eq5_hand_values(lam, tmp_path):
    q = np.array([[0.7, 0.3], [0.4, 0.6]], np.float32)
    y = np.array([[1, 0], [0, 1]], np.float32)
    seg = np.concatenate([y_pred(), y_pred()])
    masks = np.stack([S, S])[..., None]
    model = passthrough_model()
    model.compile(**multiloss_compile_args("joint", lam=lam))
    got = model.evaluate({"scores_in": q, "seg_in": seg}, {"scores": y, "segmentation": masks},
                         batch_size=2, verbose=0, return_dict=True)
    lc = (-math.log(0.7) - math.log(0.6)) / 2
    assert got["loss"] == pytest.approx(lam * lc + (1 - lam) * np.mean(LS_PRIOR), rel=1e-5)
    # the compiled losses survive a .keras save/load
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    got2 = again.evaluate({"scores_in": q, "seg_in": seg}, {"scores": y, "segmentation": masks},
                          batch_size=2, verbose=0, return_dict=True)
    assert got2["loss"] == pytest.approx(got["loss"], rel=1e-6)


def test_compile_args_per_mode():
    assert set(multiloss_compile_args("class")["loss"]) == {"scores"}
    assert set(multiloss_compile_args("seg")["loss"]) == {"segmentation"}
    joint = multiloss_compile_args("joint", lam=0.3)
    assert joint["loss_weights"] == pytest.approx({"scores": 0.3, "segmentation": 0.7})
    with pytest.raises(ValueError):
        multiloss_compile_args("both")
    with pytest.raises(ValueError):
        multiloss_compile_args("joint", lam=1.5)


def test_prior_as_weight_hand_values():
    # target stays S; weights 1 + S·f = [[1.5, 1], [2, 1]]
    weighted = [-1.5 * math.log(0.8), -math.log(0.7), -2 * math.log(0.6), -math.log(0.9)]
    got = prior_weighted_seg_loss(S[None, ..., None], y_pred(), prior_use="weight")
    np.testing.assert_allclose(np.asarray(got), [np.mean(weighted)], rtol=1e-6)
    plain = prior_weighted_seg_loss(S[None], y_pred(with_prior=False), prior_use="weight")
    np.testing.assert_allclose(np.asarray(plain), [np.mean(LS_PLAIN)], rtol=1e-6)
    loss = PriorWeightedSegLoss(prior_use="weight")
    assert PriorWeightedSegLoss.from_config(loss.get_config()).prior_use == "weight"
    assert float(loss(S[None, ..., None], y_pred())) == pytest.approx(np.mean(weighted), rel=1e-6)
    args = multiloss_compile_args("joint", prior_use="weight")
    assert args["loss"]["segmentation"].prior_use == "weight"
    with pytest.raises(ValueError, match="prior_use"):
        PriorWeightedSegLoss(prior_use="mask")

import keras
import numpy as np
import pytest

from irpath.losses.fcn import (L1L2Loss, SegmentationLoss, SoftmaxCrossEntropy, TotalVariation,
                               total_variation)

# One 1x2 image, 3 classes; pixel 0 is class 0, pixel 1 is class 2.
PROBS = np.array([[[[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]]], np.float32)
LABELS = np.array([[[0, 2]]], np.int32)
ONE_HOT = np.eye(3, dtype=np.float32)[LABELS]


def test_cross_entropy_hand_computed():
    expected = -(np.log(0.7) + np.log(0.5)) / 2
    for y in (LABELS, LABELS[..., None], ONE_HOT):
        assert float(SoftmaxCrossEntropy()(y, PROBS)) == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_matches_keras_on_batches(rng):
    probs = rng.dirichlet(np.ones(3), size=(2, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 3, size=(2, 4, 5))
    ref = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    assert float(SoftmaxCrossEntropy()(labels, probs)) == pytest.approx(float(ref), rel=1e-5)


def test_l1_l2_hand_computed():
    # pixel 0: diff (0.3, -0.2, -0.1): L1 0.6, L2^2 0.14; pixel 1: (-0.25, -0.25, 0.5): 1.0, 0.375
    l1 = (0.6 + 1.0) / 2
    l2 = (0.14 + 0.375) / 2
    assert float(L1L2Loss(l1=1.0, l2=0.0)(LABELS, PROBS)) == pytest.approx(l1, rel=1e-6)
    assert float(L1L2Loss(l1=0.0, l2=1.0)(ONE_HOT, PROBS)) == pytest.approx(l2, rel=1e-6)
    assert float(L1L2Loss(l1=0.5, l2=2.0)(LABELS, PROBS)) == pytest.approx(0.5 * l1 + 2 * l2, rel=1e-6)
    assert float(SegmentationLoss("l1l2", l1=0.5, l2=2.0)(LABELS, PROBS)) == pytest.approx(
        0.5 * l1 + 2 * l2, rel=1e-6)


def test_total_variation_hand_computed():
    # 2x2 single-class-channel maps, K=2: p = [[a, b], [c, d]] for class 0, 1 - p for class 1.
    p0 = np.array([[0.9, 0.5], [0.1, 0.1]], np.float32)
    maps = np.stack([p0, 1 - p0], axis=-1)[None]
    # pairs: (0.9,0.5) (0.1,0.1) horizontal; (0.9,0.1) (0.5,0.1) vertical; each counted twice (K=2)
    expected = 2 * (0.4 + 0.0 + 0.8 + 0.4) / 4
    assert float(total_variation(maps)[0]) == pytest.approx(expected, rel=1e-6)
    assert float(TotalVariation(weight=3.0)(maps, maps)) == pytest.approx(3 * expected, rel=1e-6)
    constant = np.full((2, 5, 7, 3), 1 / 3, np.float32)
    np.testing.assert_allclose(np.asarray(total_variation(constant)), [0.0, 0.0])


def test_total_variation_brute_force(rng):
    maps = rng.dirichlet(np.ones(3), size=(2, 5, 6)).astype(np.float32)
    for n in range(2):
        diffs = []
        for i in range(5):
            for j in range(6):
                for di, dj in ((0, 1), (1, 0)):
                    if i + di < 5 and j + dj < 6:
                        diffs.append(np.abs(maps[n, i, j] - maps[n, i + di, j + dj]).sum())
        assert float(total_variation(maps)[n]) == pytest.approx(np.mean(diffs), rel=1e-5)


def test_segmentation_loss_adds_weighted_tv(rng):
    probs = rng.dirichlet(np.ones(3), size=(3, 6, 4)).astype(np.float32)
    labels = rng.integers(0, 3, size=(3, 6, 4))
    ce = float(SoftmaxCrossEntropy()(labels, probs))
    tv = float(np.mean(np.asarray(total_variation(probs))))
    assert float(SegmentationLoss()(labels, probs)) == pytest.approx(ce, rel=1e-6)
    assert float(SegmentationLoss(tv_weight=0.7)(labels, probs)) == pytest.approx(ce + 0.7 * tv, rel=1e-5)


def test_pixel_sample_weights_mask_pixels():
    weights = np.array([[[1.0, 0.0]]], np.float32)  # ignore pixel 1
    loss = SoftmaxCrossEntropy(reduction="sum")(LABELS, PROBS, sample_weight=weights)
    assert float(loss) == pytest.approx(-np.log(0.7), rel=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        SegmentationLoss("dice")
    with pytest.raises(ValueError, match="tv_weight"):
        SegmentationLoss(tv_weight=-1)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(epsilon=1e-6), L1L2Loss(l1=0.3, l2=2.0),
                                  TotalVariation(weight=0.25),
                                  SegmentationLoss("l1l2", l1=0.2, l2=0.9, tv_weight=0.1)])
def test_config_round_trip(loss):
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    assert float(clone(LABELS, PROBS)) == pytest.approx(float(loss(LABELS, PROBS)), rel=1e-7)


def test_compiles_and_reloads_with_model(tmp_path):
    inputs = keras.Input((4, 4, 2))
    outputs = keras.layers.Conv2D(3, 1, activation="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile("adam", loss=SegmentationLoss(tv_weight=0.5))
    x = np.random.default_rng(0).random((2, 4, 4, 2)).astype(np.float32)
    y = np.zeros((2, 4, 4), np.int32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.loss, SegmentationLoss) and reloaded.loss.tv_weight == 0.5

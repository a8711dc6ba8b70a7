import numpy as np
import pytest

from irpath.metrics import dice, pooled_activation, threshold_map, tumour_fraction


def test_dice_of_known_masks():
    pred = np.zeros((4, 4), bool)
    target = np.zeros((4, 4), bool)
    pred[0, :3] = True     # 3 pixels
    target[0, 1:] = True   # 3 pixels, 2 shared
    assert dice(pred, target) == pytest.approx(2 * 2 / 6)
    assert dice(target, pred) == pytest.approx(2 / 3)


def test_dice_limits():
    a = np.eye(5, dtype=bool)
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    empty = np.zeros((5, 5), bool)
    assert dice(empty, empty) == 1.0
    assert dice(a, empty) == 0.0


def test_dice_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        dice(np.zeros((3, 3)), np.zeros((3, 4)))


def test_threshold_is_inclusive():
    prob = np.array([[0.2, 0.35], [0.5, 0.34999]])
    np.testing.assert_array_equal(threshold_map(prob, 0.35), [[False, True], [True, False]])


def test_tumour_fraction_counts_only_tissue():
    prob = np.array([[0.9, 0.9, 0.1],
                     [0.4, 0.2, 0.9]])
    tissue = np.array([[True, True, True],
                       [True, True, False]])  # the 0.9 outside tissue must not count
    assert tumour_fraction(prob, tissue) == pytest.approx(3 / 5)
    assert tumour_fraction(prob, tissue, threshold=0.5) == pytest.approx(2 / 5)
    assert tumour_fraction(prob, np.zeros_like(tissue)) == 0.0


def test_pooled_activation_is_the_mean_over_tissue_only():
    prob = np.array([[0.9, 0.9, 0.1],
                     [0.4, 0.2, 0.9]])
    tissue = np.array([[True, True, True],
                       [True, True, False]])  # the 0.9 outside tissue must not count
    assert pooled_activation(prob, tissue) == pytest.approx((0.9 + 0.9 + 0.1 + 0.4 + 0.2) / 5)
    assert pooled_activation(prob, np.zeros_like(tissue)) == 0.0
    with pytest.raises(ValueError):
        pooled_activation(prob, tissue[:, :2])

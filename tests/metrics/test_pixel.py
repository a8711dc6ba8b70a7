import json
import math

import numpy as np
import pytest

from irpath.errors import InvalidValuesError, ShapeError
from irpath.metrics import (confusion_matrix, dice, mean_iou, per_class_dice, per_class_iou,
                            pixel_accuracy, pixel_report, pooled_activation, threshold_map,
                            tumour_fraction)

# 3 classes, 255 = ignore. Pixel pairs (true, pred), row by row:
#   row 0: (0,0) (0,1) (1,1) (1,1)
#   row 1: (0,0) (2,2) (1,2) (1,1)
#   row 2: (2,2) (2,0) (2,2) (255, ignored)
TARGET = np.array([[0, 0, 1, 1],
                   [0, 2, 1, 1],
                   [2, 2, 2, 255]])
PRED = np.array([[0, 1, 1, 1],
                 [0, 2, 2, 1],
                 [2, 0, 2, 0]])
# rows = truth, cols = prediction
CM = np.array([[2, 1, 0],    # true 0: 2 right, 1 called 1
               [0, 3, 1],    # true 1: 3 right, 1 called 2
               [1, 0, 3]])   # true 2: 3 right, 1 called 0


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(PRED, TARGET, 3, ignore=255)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, CM)
    # rows are ground truth: transposing the arguments transposes the matrix
    target = np.where(TARGET == 255, 0, TARGET)
    np.testing.assert_array_equal(confusion_matrix(target, PRED, 3),
                                  confusion_matrix(PRED, target, 3).T)


def test_ignore_drops_pixels_and_out_of_range_labels_are_refused():
    with pytest.raises(InvalidValuesError, match="255"):
        confusion_matrix(PRED, TARGET, 3)            # 255 without ignore
    with pytest.raises(InvalidValuesError, match="pred holds label 3"):
        confusion_matrix(np.full((2, 2), 3), np.zeros((2, 2), int), 3)
    # ignore=0 drops the 3 true-0 pixels: row 0 of CM becomes zero, rest unchanged
    cm = confusion_matrix(PRED, np.where(TARGET == 255, 1, TARGET), 3, ignore=0)
    np.testing.assert_array_equal(cm, [[0, 0, 0], [1, 3, 1], [1, 0, 3]])


def test_pixel_accuracy_by_hand():
    # 8 correct pixels of 11 counted (the ignored one is not counted)
    assert pixel_accuracy(PRED, TARGET, 3, ignore=255) == pytest.approx(8 / 11)
    assert math.isnan(pixel_accuracy(PRED, np.full_like(TARGET, 255), 3, ignore=255))


def test_per_class_iou_and_dice_by_hand():
    cm4 = np.zeros((4, 4), np.int64)
    cm4[:3, :3] = CM                                   # class 3 never occurs
    # IoU = TP / (row + col - TP): class 0: 2/(3+3-2); class 1: 3/(4+4-3); class 2: 3/(4+4-3)
    iou = per_class_iou(cm4)
    np.testing.assert_allclose(iou[:3], [2 / 4, 3 / 5, 3 / 5])
    assert math.isnan(iou[3])
    # Dice = 2 TP / (row + col): 4/6, 6/8, 6/8
    dsc = per_class_dice(cm4)
    np.testing.assert_allclose(dsc[:3], [4 / 6, 6 / 8, 6 / 8])
    assert math.isnan(dsc[3])
    assert mean_iou(cm4) == pytest.approx((0.5 + 0.6 + 0.6) / 3)   # NaN class skipped
    assert math.isnan(mean_iou(np.zeros((2, 2), int)))


def test_class_predicted_but_absent_from_truth_scores_zero_not_nan():
    cm = confusion_matrix(np.array([0, 1]), np.array([0, 0]), 2)   # [[1, 1], [0, 0]]
    np.testing.assert_allclose(per_class_iou(cm), [0.5, 0.0])
    np.testing.assert_allclose(per_class_dice(cm), [2 / 3, 0.0])


def test_pixel_report_is_json_ready():
    report = pixel_report(PRED, np.where(TARGET == 255, 0, TARGET), 4,
                          class_names=["bg", "tumour", "stroma", "other"])
    text = json.dumps(report, allow_nan=False)          # no NaN may survive
    back = json.loads(text)
    # the ignored pixel became true 0 / predicted 0: CM[0, 0] + 1
    assert back["confusion_matrix"] == [[3, 1, 0, 0], [0, 3, 1, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    assert back["pixel_accuracy"] == pytest.approx(9 / 12)
    # bg IoU = 3 / (4 + 4 - 3)
    assert [back["iou"][n] for n in ("bg", "tumour", "stroma")] == pytest.approx([0.6] * 3)
    assert back["iou"]["other"] is None and back["dice"]["other"] is None
    assert back["dice"]["bg"] == pytest.approx(6 / 8)
    assert back["mean_iou"] == pytest.approx(0.6)
    assert back["mean_dice"] == pytest.approx(0.75)
    assert pixel_report(PRED, TARGET, 3, ignore=255)["class_names"] == ["0", "1", "2"]
    with pytest.raises(InvalidValuesError, match="distinct names"):
        pixel_report(PRED, TARGET, 3, class_names=["a", "b"], ignore=255)


def test_confusion_matrix_matches_brute_force(rng):
    k = 5
    target = rng.integers(0, k, size=(17, 13))
    target[rng.random(target.shape) < 0.1] = 99                   # ignored pixels
    pred = rng.integers(0, k, size=target.shape)
    expected = np.zeros((k, k), np.int64)
    for t, p in zip(target.ravel(), pred.ravel()):
        if t != 99:
            expected[t, p] += 1
    np.testing.assert_array_equal(confusion_matrix(pred, target, k, ignore=99), expected)
    cm = expected
    iou = per_class_iou(cm)
    # Dice and IoU of the same class are tied by D = 2 J / (1 + J)
    np.testing.assert_allclose(per_class_dice(cm), 2 * iou / (1 + iou))
    assert pixel_accuracy(pred, target, k, ignore=99) == pytest.approx(
        np.mean(pred[target != 99] == target[target != 99]))


def test_bad_inputs():
    with pytest.raises(ShapeError, match="same shape"):
        confusion_matrix(np.zeros((2, 3), int), np.zeros((3, 2), int), 2)
    with pytest.raises(InvalidValuesError, match="integer"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2), int), 2)
    with pytest.raises(ShapeError, match="square"):
        per_class_iou(np.zeros((2, 3)))


# -- binary masks and activation maps --

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

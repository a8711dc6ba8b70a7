import numpy as np

from irpath.demo.nuclei import make_nuclei_tile
from irpath.methods.nuclei.postprocess import instances_from_classes, postprocess
from irpath.methods.nuclei.targets import five_class_target
from irpath.metrics.objects import object_f1


def _one_hot(t):
    return np.eye(5, dtype=np.float32)[t]


def test_two_touching_nuclei_split():
    label = np.zeros((10, 16), np.int32)
    label[2:8, 2:8] = 3  # tumour
    label[2:8, 8:14] = 4  # lymphocyte, touching
    inst, classes, class_map = postprocess(_one_hot(five_class_target(label)), min_area=4)
    assert inst.dtype == np.int32 and inst.max() == 2
    a, b = inst[4, 4], inst[4, 11]
    assert a != b and a > 0 and b > 0
    assert classes == {int(a): 0, int(b): 1}
    # growing by 1 px restores each 6x6 nucleus except its 4 corners
    for i, old in ((a, 3), (b, 4)):
        diff = (inst == i) ^ (label == old)
        assert diff.sum() == 4
    np.testing.assert_array_equal(class_map[inst == a], 1)
    np.testing.assert_array_equal(class_map[inst == b], 2)
    assert not class_map[inst == 0].any()


def test_without_contour_they_merge():
    pred = np.zeros((10, 16), np.int64)
    pred[3:7, 3:13] = 1
    inst, _, _ = instances_from_classes(pred, min_area=1)
    assert inst.max() == 1


def test_majority_class_and_small_objects():
    pred = np.zeros((12, 12), np.int64)
    pred[1:6, 1:6] = 3
    pred[1:3, 1:6] = 2  # 10 lymphocyte px vs 15 stroma px
    pred[9:11, 9:11] = 1  # 4 px: removed by min_area=5
    inst, classes, class_map = instances_from_classes(pred, min_area=5, radius=0)
    assert inst.max() == 1 and classes == {1: 2}
    expected = np.zeros((12, 12), bool)
    expected[1:6, 1:6] = True
    np.testing.assert_array_equal(inst > 0, expected)
    assert np.all(class_map[1:6, 1:6] == 3)


def test_targets_then_postprocess_recover_a_synthetic_tile():
    _, label = make_nuclei_tile(96, seed=5)
    inst, classes, _ = postprocess(_one_hot(five_class_target(label)), min_area=1)
    assert object_f1(inst, label)["f1"] > 0.9
    # classes agree with id % 3 of the matched ground truth
    agree = [classes[i] == np.bincount(label[inst == i]).argmax() % 3 for i in classes]
    assert np.mean(agree) > 0.95

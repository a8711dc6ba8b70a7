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
    inst, classes, class_image = postprocess(_one_hot(five_class_target(label)), min_area=4)
    assert inst.dtype == np.int32 and inst.max() == 2
    a, b = inst[4, 4], inst[4, 11]
    assert a != b and a > 0 and b > 0
    assert classes == {int(a): 0, int(b): 1}
    # growing by 1 px restores each 6x6 nucleus except its 4 corners
    for i, old in ((a, 3), (b, 4)):
        diff = (inst == i) ^ (label == old)
        assert diff.sum() == 4
    np.testing.assert_array_equal(class_image[inst == a], 1)
    np.testing.assert_array_equal(class_image[inst == b], 2)
    assert not class_image[inst == 0].any()


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
    inst, classes, class_image = instances_from_classes(pred, min_area=5, radius=0)
    assert inst.max() == 1 and classes == {1: 2}
    expected = np.zeros((12, 12), bool)
    expected[1:6, 1:6] = True
    np.testing.assert_array_equal(inst > 0, expected)
    assert np.all(class_image[1:6, 1:6] == 3)


def test_targets_then_postprocess_recover_a_synthetic_tile():
    _, label = make_nuclei_tile(96, seed=5)
    inst, classes, _ = postprocess(_one_hot(five_class_target(label)), min_area=1)
    assert object_f1(inst, label)["f1"] > 0.9
    # classes agree with id % 3 of the matched ground truth
    agree = [classes[i] == np.bincount(label[inst == i]).argmax() % 3 for i in classes]
    assert np.mean(agree) > 0.95


def _faint_seam_maps():
    """Two 6x6 tumour nuclei side by side; the network's contour between them is faint.

    Returns (maps (10, 16, 5), ground-truth id-mod-3 label)."""
    label = np.zeros((10, 16), np.int32)
    label[2:8, 2:8] = 3
    label[2:8, 8:14] = 6
    maps = _one_hot(five_class_target(label)).copy()
    seam = np.zeros((10, 16), bool)
    seam[2:8, 7:9] = True  # the two columns where the nuclei touch
    maps[seam] = [0.05, 0.6, 0.0, 0.0, 0.35]  # inner parts still win the argmax there
    return maps, label


def test_inner_threshold_splits_a_faint_seam_the_argmax_joins():
    maps, label = _faint_seam_maps()
    merged, _, _ = postprocess(maps, min_area=4)
    assert merged.max() == 1
    inst, classes, _ = postprocess(maps, min_area=4, inner_threshold=0.7)
    assert inst.max() == 2 and set(classes.values()) == {0}
    assert inst[4, 4] != inst[4, 11] and inst[4, 4] > 0 and inst[4, 11] > 0
    assert object_f1(inst, label)["f1"] == 1.0 and object_f1(merged, label)["f1"] < 1.0
    # above every inner probability nothing is left
    maps[..., 1:4] *= 0.9
    assert postprocess(maps, min_area=4, inner_threshold=0.95)[0].max() == 0


def test_inner_threshold_none_is_the_argmax():
    from irpath.methods.nuclei.postprocess import inner_classes

    maps = np.random.default_rng(0).dirichlet(np.ones(5), size=(12, 12)).astype(np.float32)
    np.testing.assert_array_equal(inner_classes(maps), maps.argmax(-1))
    t = inner_classes(maps, 0.5)
    inner = maps[..., 1:4].sum(-1) > 0.5
    np.testing.assert_array_equal(t > 0, inner)
    np.testing.assert_array_equal(t[inner], 1 + maps[..., 1:4].argmax(-1)[inner])
    assert not (t == 4).any()


def test_calibration_picks_a_threshold_that_splits_and_ties_go_to_the_argmax():
    from irpath.methods.nuclei.evaluate import choose_inner_threshold

    maps, label = _faint_seam_maps()
    best, table = choose_inner_threshold([(maps, label)], min_area=4, radius=1)
    assert best is not None and 0.6 <= best < 1.0
    by = {r["inner_threshold"]: r["f1"] for r in table}
    assert by[best] == 1.0 and by[None] < 1.0 and by[0.95] == 1.0
    # clean maps: every threshold splits them, so the argmax (first) wins the tie
    clean = _one_hot(five_class_target(label))
    assert choose_inner_threshold([(clean, label)], min_area=4, radius=1)[0] is None


def test_calibration_lowers_min_area_only_for_small_nuclei_and_ties_keep_the_recipes():
    from irpath.methods.nuclei.evaluate import choose_postprocess, min_area_grid

    assert min_area_grid(20) == (20, 10, 5) and min_area_grid(3) == (3, 1) and min_area_grid(0) == (0,)
    yy, xx = np.mgrid[:64, :64]
    small = np.zeros((64, 64), np.int32)  # 9 discs of radius 3 (~29 px): inner parts of ~9 px
    for k, (cy, cx) in enumerate([(y, x) for y in (10, 32, 54) for x in (10, 32, 54)], 1):
        small[(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = k * 3  # id-mod-3 label: class 0 (tumour)
    maps = _one_hot(five_class_target(small))
    threshold, area, table = choose_postprocess([(maps, small)], min_areas=(20, 10, 5), radius=1)
    by = {(r["min_area"], r["inner_threshold"]): r["f1"] for r in table}
    assert by[(20, None)] == 0.0  # the paper's 20 px drops every inner part
    assert area in (10, 5) and by[(area, threshold)] == 1.0
    # large nuclei: every min_area finds them all, so the recipe's (first) is kept
    big = np.zeros((64, 64), np.int32)
    big[(yy - 32) ** 2 + (xx - 32) ** 2 <= 100] = 3
    assert choose_postprocess([(_one_hot(five_class_target(big)), big)], min_areas=(20, 10, 5),
                              radius=1)[:2] == (None, 20)

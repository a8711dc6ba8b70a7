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
    threshold, area, split, table = choose_postprocess([(maps, small)], min_areas=(20, 10, 5), radius=1)
    by = {(r["min_area"], r["inner_threshold"]): r["f1"] for r in table}
    assert by[(20, None)] == 0.0  # the paper's 20 px drops every inner part
    assert area in (10, 5) and by[(area, threshold)] == 1.0 and split is None
    # large nuclei: every min_area finds them all, so the recipe's (first) is kept
    big = np.zeros((64, 64), np.int32)
    big[(yy - 32) ** 2 + (xx - 32) ** 2 <= 100] = 3
    assert choose_postprocess([(_one_hot(five_class_target(big)), big)], min_areas=(20, 10, 5),
                              radius=1)[:3] == (None, 20, None)


def _overlapping_pair(shift=12, radius=8, size=40, dip=0.25):
    """Two discs that overlap (the second painted over the first) and maps that join them:
    inner on all of their union's inner part, with no contour between them, only a dip of
    P(inner) (1 -> 1 - dip) across their neck, as a network draws overlapping nuclei."""
    yy, xx = np.mgrid[:size, :size]
    c = size // 2
    label = np.zeros((size, size), np.int32)
    label[(yy - c) ** 2 + (xx - c + shift // 2) ** 2 <= radius ** 2] = 3
    label[(yy - c) ** 2 + (xx - c - shift // 2) ** 2 <= radius ** 2] = 6
    t = five_class_target((label > 0).astype(np.int32) * 3)  # the union as one nucleus: no seam
    maps = _one_hot(t)
    inner = np.where(t == 1, 1 - dip * np.exp(-((xx - c) ** 2) / (2 * 1.5 ** 2)), 0)
    maps[..., 1] = inner
    maps[..., 4] = np.where(t == 1, 1 - inner, maps[..., 4])
    return maps, label


def test_split_separates_overlapping_nuclei_the_argmax_joins():
    from irpath.methods.nuclei.labels import decode_label

    maps, label = _overlapping_pair()
    gt = decode_label(label)[0]
    joined = postprocess(maps, min_area=4)[0]
    assert joined.max() == 1 and object_f1(joined, gt)["tp"] <= 1
    inst, classes, class_image = postprocess(maps, min_area=4, split=0.2)
    assert inst.max() == 2 and set(classes) == {1, 2} and object_f1(inst, gt)["f1"] == 1.0
    # the split pieces tile the joined nucleus: same pixels, nothing lost
    np.testing.assert_array_equal(inst > 0, joined > 0)
    np.testing.assert_array_equal(class_image > 0, joined > 0)
    # a higher seed height than the neck's depth keeps them together
    assert postprocess(maps, min_area=4, split=1.5)[0].max() == 1


def test_split_keeps_single_nuclei_whole_and_every_component():
    from irpath.methods.nuclei.postprocess import split_components, split_height

    yy, xx = np.mgrid[:48, :48]
    label = np.zeros((48, 48), np.int32)
    for k, (cy, cx, r) in enumerate([(12, 12, 8), (34, 34, 6), (40, 8, 2)], 1):
        label[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 3 * k
    maps = _one_hot(five_class_target(label))
    a = postprocess(maps, min_area=1)[0]
    b = postprocess(maps, min_area=1, split=0.2)[0]
    np.testing.assert_array_equal(a, b)  # convex nuclei with clean contours: no split
    # a flat landscape has no seed in a component: it keeps itself, nothing is dropped
    comps = np.zeros((10, 10), np.int32)
    comps[1:4, 1:4], comps[6:9, 6:9] = 5, 2
    out = split_components(comps, np.zeros((10, 10)), 0.3)
    assert out.max() == 2 and out.dtype == np.int32
    np.testing.assert_array_equal(out > 0, comps > 0)
    np.testing.assert_array_equal(split_components(np.ones((4, 4), int), np.zeros((4, 4)), 0.3), 1)
    assert split_height(maps, label > 0).shape == (48, 48)


def test_calibration_chooses_the_split_only_where_it_helps():
    from irpath.methods.nuclei.evaluate import choose_postprocess, split_grid

    assert split_grid(None) == (None, 0.1, 0.2, 0.3, 0.5) and split_grid(0.3) == (0.3, None, 0.1, 0.2, 0.5)
    maps, label = _overlapping_pair(dip=0.0)  # no threshold splits them: only their shape can
    t, area, split, table = choose_postprocess([(maps, label)], min_areas=(4,), radius=1,
                                               splits=split_grid(None))
    assert split is not None and next(r for r in table if r["split"] == split
                                      and r["inner_threshold"] == t)["f1"] == 1.0
    assert {r["split"] for r in table} == {None, 0.1, 0.2, 0.3, 0.5}
    # one clean nucleus: no split changes anything, so the recipe's (none, first) is kept
    yy, xx = np.mgrid[:32, :32]
    one = ((yy - 16) ** 2 + (xx - 16) ** 2 <= 64).astype(np.int32) * 3
    assert choose_postprocess([(_one_hot(five_class_target(one)), one)], min_areas=(4,), radius=1,
                              splits=split_grid(None))[:3] == (None, 4, None)

import math

import numpy as np
import pytest

from irpath.errors import InvalidValuesError, ShapeError
from irpath.metrics import (glas_object_dice, glas_object_hausdorff, hausdorff_distance,
                            object_f1, overlap, relabel)


def paint(shape, *boxes):
    """Instance image with rectangles (id, first row, last row, first col, last col)."""
    out = np.zeros(shape, np.int64)
    for obj, r0, r1, c0, c1 in boxes:
        out[r0:r1 + 1, c0:c1 + 1] = obj
    return out


def f1_dict(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return dict(tp=tp, fp=fp, fn=fn, precision=p, recall=r,
                f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)


# ---- hand-computed cases -------------------------------------------------------------

# Split: one 4x4 GT (16 px) cut into a 4x3 prediction (12 px = 75 % of the GT)
# and a 4x1 sliver (4 px = 25 %).
SPLIT_GT = paint((8, 8), (3, 2, 5, 2, 5))
SPLIT_PRED = paint((8, 8), (10, 2, 5, 2, 4), (20, 2, 5, 5, 5))

# Merge: two 3x3 GT objects (9 px each, ids 4 and 7) covered by one 3x7 prediction (21 px).
MERGE_GT = paint((8, 8), (4, 1, 3, 1, 3), (7, 1, 3, 5, 7))
MERGE_PRED = paint((8, 8), (2, 1, 3, 1, 7))

# Unmatched objects, non-consecutive ids: GT 9 is found exactly by prediction 50;
# GT 2 (2x2, top left) is missed; prediction 3 (2x2, cols 5-6) is a false positive.
UNM_GT = paint((10, 10), (2, 0, 1, 0, 1), (9, 6, 8, 6, 8))
UNM_PRED = paint((10, 10), (50, 6, 8, 6, 8), (3, 0, 1, 5, 6))


def test_object_f1_split():
    # prediction 10 covers 12/16 > 50 % of the GT: TP; the sliver (4/16) is a FP.
    assert object_f1(SPLIT_PRED, SPLIT_GT) == f1_dict(tp=1, fp=1, fn=0)
    assert object_f1(SPLIT_PRED, SPLIT_GT)["f1"] == pytest.approx(2 / 3)


def test_object_f1_merge_counts_the_prediction_once():
    # the prediction covers 9/9 of both GT objects but is one TP; the other GT is a FN.
    assert object_f1(MERGE_PRED, MERGE_GT) == f1_dict(tp=1, fp=0, fn=1)


def test_object_f1_unmatched():
    assert object_f1(UNM_PRED, UNM_GT) == f1_dict(tp=1, fp=1, fn=1)  # F1 = 2/4


def test_object_f1_fifty_percent_boundary():
    gt = paint((8, 8), (1, 2, 5, 2, 5))                       # 16 px
    half = paint((8, 8), (1, 2, 5, 2, 3))                     # 8 px inside: exactly 50 %
    assert object_f1(half, gt) == f1_dict(tp=0, fp=1, fn=1)
    more = half.copy()
    more[2, 4] = 1                                            # 9 px inside: 56 %
    assert object_f1(more, gt) == f1_dict(tp=1, fp=0, fn=0)
    # the criterion is relative to the GT's area: 9 px in, 20 px outside is still a TP
    big = more.copy()
    big[:, 7] = 1
    big[7, :] = 1
    big[0, :5] = 1
    assert int((big > 0).sum()) - 9 > 9
    assert object_f1(big, gt)["tp"] == 1
    # a prediction at 50 % of the GT but covering it with two halves: still no TP
    assert object_f1(paint((8, 8), (1, 2, 5, 2, 3), (2, 2, 5, 4, 5)), gt) == f1_dict(0, 2, 1)


def test_glas_dice_split():
    # GT side: Dice(G, S10) = 2*12 / (16 + 12) = 6/7, weight 1.
    # Pred side: S10 -> 6/7 (weight 12/16); S20 -> 2*4 / (4 + 16) = 0.4 (weight 4/16).
    # Dice_obj = 1/2 [6/7 + (0.75 * 6/7 + 0.25 * 0.4)] = 1/2 [1.5 + 0.1] = 0.8
    assert glas_object_dice(SPLIT_PRED, SPLIT_GT) == pytest.approx(0.8)


def test_glas_dice_merge():
    # Each GT: Dice(G, S) = 2*9 / (9 + 21) = 0.6. The prediction's best GT (tie 9/9) is
    # either one, Dice 0.6 as well. Dice_obj = 0.6.
    assert glas_object_dice(MERGE_PRED, MERGE_GT) == pytest.approx(0.6)


def test_glas_dice_unmatched():
    # GT: G2 (4 px) 0, G9 (9 px) 1 -> 9/13. Pred: S50 (9 px) 1, S3 (4 px) 0 -> 9/13.
    assert glas_object_dice(UNM_PRED, UNM_GT) == pytest.approx(9 / 13)


def test_glas_hausdorff_split():
    # H(G, S10) = 1 (G's column 5 is 1 px from S10). H(G, S20) = 3 (G's column 2 to column 5).
    # H_obj = 1/2 [1 * 1 + (0.75 * 1 + 0.25 * 3)] = 1/2 [1 + 1.5] = 1.25
    assert glas_object_hausdorff(SPLIT_PRED, SPLIT_GT) == pytest.approx(1.25)


def test_glas_hausdorff_merge():
    # S spans columns 1-7: its column 7 is 4 px from G4 (cols 1-3), its column 1 is 4 px
    # from G7 (cols 5-7). Every term is 4, so H_obj = 4.
    assert glas_object_hausdorff(MERGE_PRED, MERGE_GT) == pytest.approx(4.0)


def test_glas_hausdorff_unmatched_uses_nearest_object():
    # G9 <-> S50: 0. G2 (rows 0-1, cols 0-1) overlaps nothing: H(G2, S3) = 5 (cols 0-1 vs
    # 5-6, same rows) beats H(G2, S50) = |(8,8) - (1,1)| = 9.9. S3 overlaps nothing:
    # H(S3, G2) = 5 beats H(S3, G9) >= 7 (G9's row 8 is 7 rows below S3).
    # H_obj = 1/2 [4/13 * 5 + 9/13 * 0 + 4/13 * 5 + 9/13 * 0] = 20/13
    assert glas_object_hausdorff(UNM_PRED, UNM_GT) == pytest.approx(20 / 13)


def test_empty_cases():
    shape = (8, 10)
    empty = np.zeros(shape, np.int64)
    gt = paint(shape, (5, 1, 2, 1, 2), (6, 4, 6, 4, 6))
    # both empty: perfect
    assert object_f1(empty, empty) == dict(tp=0, fp=0, fn=0, precision=1.0, recall=1.0, f1=1.0)
    assert glas_object_dice(empty, empty) == 1.0
    assert glas_object_hausdorff(empty, empty) == 0.0
    # empty prediction: 2 FN, Dice 0, Hausdorff = diagonal sqrt(7**2 + 9**2)
    assert object_f1(empty, gt) == f1_dict(tp=0, fp=0, fn=2)
    assert glas_object_dice(empty, gt) == 0.0
    assert glas_object_hausdorff(empty, gt) == pytest.approx(math.sqrt(130))
    # empty ground truth: 2 FP, the same Dice and Hausdorff
    assert object_f1(gt, empty) == f1_dict(tp=0, fp=2, fn=0)
    assert glas_object_dice(gt, empty) == 0.0
    assert glas_object_hausdorff(gt, empty) == pytest.approx(math.sqrt(130))


def test_identical_images_are_perfect_and_ids_do_not_matter():
    gt = UNM_GT
    assert object_f1(gt, gt)["f1"] == 1.0
    assert glas_object_dice(gt, gt) == 1.0
    assert glas_object_hausdorff(gt, gt) == 0.0
    # renumbering the prediction (no ties in these cases) changes nothing
    for pred, g in ((SPLIT_PRED, SPLIT_GT), (UNM_PRED, UNM_GT)):
        renum = np.where(pred > 0, 1000 - 7 * pred, 0)
        assert glas_object_dice(renum, g) == glas_object_dice(pred, g)
        assert glas_object_hausdorff(renum, g) == glas_object_hausdorff(pred, g)
        assert object_f1(renum, g) == object_f1(pred, g)


def test_relabel_and_overlap_table():
    lab, ids = relabel(UNM_PRED)
    np.testing.assert_array_equal(ids, [3, 50])
    np.testing.assert_array_equal(lab, np.searchsorted([0, 3, 50], UNM_PRED))
    no_bg, ids = relabel(np.array([[7, 7], [9, 4]]))      # no background pixel at all
    np.testing.assert_array_equal(no_bg, [[2, 2], [3, 1]])
    np.testing.assert_array_equal(ids, [4, 7, 9])
    huge, ids = relabel(np.array([[0, 10**12], [5, 10**12]]))   # ids too big for a table
    np.testing.assert_array_equal(huge, [[0, 2], [1, 2]])
    np.testing.assert_array_equal(ids, [5, 10**12])
    ov = overlap(SPLIT_PRED, SPLIT_GT)
    np.testing.assert_array_equal(ov.pred_area, [12, 4])
    np.testing.assert_array_equal(ov.gt_area, [16])
    assert list(zip(ov.pair_gt, ov.pair_pred, ov.inter)) == [(0, 0, 12), (0, 1, 4)]
    np.testing.assert_allclose(ov.pair_iou(), [12 / 16, 4 / 16])


def test_bad_inputs():
    with pytest.raises(ShapeError, match="same shape"):
        object_f1(np.zeros((3, 3), int), np.zeros((3, 4), int))
    with pytest.raises(InvalidValuesError, match="integer"):
        glas_object_dice(np.zeros((3, 3)), np.zeros((3, 3), int))
    with pytest.raises(InvalidValuesError, match="negative"):
        glas_object_hausdorff(-np.ones((3, 3), int), np.zeros((3, 3), int))


# ---- brute-force references on random images -----------------------------------------

def brute_hausdorff(a, b):
    pa, pb = np.argwhere(a).astype(float), np.argwhere(b).astype(float)
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return max(d.min(axis=1).max(), d.min(axis=0).max())


def random_instances(rng, shape, n):
    """Up to n overlapping rectangles with random, non-consecutive ids."""
    out = np.zeros(shape, np.int64)
    ids = rng.choice(10_000, size=n, replace=False) + 1
    for obj in ids:
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        h, w = rng.integers(1, 6, size=2)
        out[r:r + h, c:c + w] = obj
    return out


def brute_glas(pred, gt):
    """Direct port of the GlaS ObjectDice.m / ObjectHausdorff.m loops."""
    def side(a_img, b_img):
        a_ids = [i for i in np.unique(a_img) if i]
        b_ids = [i for i in np.unique(b_img) if i]
        total = (a_img > 0).sum()
        dsc = hd = 0.0
        for i in a_ids:
            a = a_img == i
            hit = b_img[a]
            hit = hit[hit > 0]
            if hit.size:
                vals, counts = np.unique(hit, return_counts=True)
                b = b_img == vals[np.argmax(counts)]              # MATLAB mode: smallest on ties
                d = 2 * (a & b).sum() / (a.sum() + b.sum())
                h = brute_hausdorff(a, b)
            else:
                d = 0.0
                h = min(brute_hausdorff(a, b_img == j) for j in b_ids)
            dsc += a.sum() / total * d
            hd += a.sum() / total * h
        return dsc, hd
    (dg, hg), (ds, hs) = side(gt, pred), side(pred, gt)
    return (dg + ds) / 2, (hg + hs) / 2


def brute_f1_tp(pred, gt):
    tp = 0
    for p in (i for i in np.unique(pred) if i):
        tp += any(2 * ((pred == p) & (gt == g)).sum() > (gt == g).sum()
                  for g in np.unique(gt) if g)
    return tp


def test_hausdorff_matches_brute_force(rng):
    assert hausdorff_distance(paint((5, 6), (1, 0, 0, 0, 0)), paint((5, 6), (1, 3, 3, 4, 4))) \
        == pytest.approx(5.0)                                  # (0,0) to (3,4): 3-4-5
    for _ in range(20):
        a = rng.random((12, 15)) < rng.uniform(0.02, 0.3)
        b = rng.random((12, 15)) < rng.uniform(0.02, 0.3)
        if a.any() and b.any():
            assert hausdorff_distance(a, b) == pytest.approx(brute_hausdorff(a, b))
    empty = np.zeros((4, 4), bool)
    assert hausdorff_distance(empty, empty) == 0.0
    assert hausdorff_distance(empty, ~empty) == math.inf


@pytest.mark.parametrize("seed", range(6))
def test_object_metrics_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = (20, 24)
    gt, pred = random_instances(rng, shape, 8), random_instances(rng, shape, 8)
    dsc, hd = brute_glas(pred, gt)
    assert glas_object_dice(pred, gt) == pytest.approx(dsc)
    assert glas_object_hausdorff(pred, gt) == pytest.approx(hd)
    res = object_f1(pred, gt)
    assert res["tp"] == brute_f1_tp(pred, gt)
    assert res["tp"] + res["fp"] == len(np.unique(pred)) - 1
    assert res["tp"] + res["fn"] == len(np.unique(gt)) - 1


def test_a_thousand_nuclei_shifted_by_one_pixel():
    # 33 x 33 grid of 3x3 nuclei (stride 4); the prediction shifts every nucleus one
    # column right. Per nucleus: overlap 6 of 9 px (> 50 %: TP), Dice 2*6/18 = 2/3,
    # Hausdorff 1 (a column of each is 1 px from the other). 1089**2 possible pairs
    # also exercise the sparse (np.unique) branch of the overlap table.
    gt = np.zeros((132, 132), np.int64)
    pred = np.zeros_like(gt)
    for k in range(33 * 33):
        r, c = 4 * (k // 33), 4 * (k % 33)
        gt[r:r + 3, c:c + 3] = k + 1
        pred[r:r + 3, c + 1:c + 4] = 5 * k + 3
    assert object_f1(pred, gt) == f1_dict(tp=1089, fp=0, fn=0)
    assert glas_object_dice(pred, gt) == pytest.approx(2 / 3)
    assert glas_object_hausdorff(pred, gt) == pytest.approx(1.0)


def test_glas_ties_go_to_the_smallest_id_like_matlab_mode():
    # G (rows 2-5, cols 2-5, 16 px) overlaps A (rows 2-3, cols 2-3: 4 px, all inside) and
    # B (rows 4-5, cols 4-7: 8 px, 4 inside) by 4 px each. Dice(G, A) = 8/20 = 2/5,
    # Dice(G, B) = 8/24 = 1/3. Pred side: A -> 2/5 (weight 4/12), B -> 1/3 (weight 8/12)
    # = 2/15 + 2/9 = 16/45.
    gt = paint((8, 8), (1, 2, 5, 2, 5))
    a_small = paint((8, 8), (3, 2, 3, 2, 3), (8, 4, 5, 4, 7))   # A has the smaller id
    assert glas_object_dice(a_small, gt) == pytest.approx((2 / 5 + 16 / 45) / 2)   # 17/45
    b_small = paint((8, 8), (8, 2, 3, 2, 3), (3, 4, 5, 4, 7))   # B has the smaller id
    assert glas_object_dice(b_small, gt) == pytest.approx((1 / 3 + 16 / 45) / 2)  # 31/90

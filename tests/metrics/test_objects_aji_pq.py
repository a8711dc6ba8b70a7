"""AJI and panoptic quality (:mod:`irpath.metrics.objects`) on instance label images."""

import numpy as np
import pytest

from irpath.errors import InvalidValuesError
from irpath.metrics import aji, panoptic_quality


def paint(shape, *boxes):
    """Instance image with rectangles (id, first row, last row, first col, last col)."""
    out = np.zeros(shape, np.int64)
    for obj, r0, r1, c0, c1 in boxes:
        out[r0:r1 + 1, c0:c1 + 1] = obj
    return out


def pq_dict(dq, sq, tp, fp, fn):
    return dict(dq=pytest.approx(dq), sq=pytest.approx(sq), pq=pytest.approx(dq * sq),
                tp=tp, fp=fp, fn=fn)


# Same cases as in test_objects.py.
SPLIT_GT = paint((8, 8), (3, 2, 5, 2, 5))                                 # 16 px
SPLIT_PRED = paint((8, 8), (10, 2, 5, 2, 4), (20, 2, 5, 5, 5))            # 12 px + 4 px
MERGE_GT = paint((8, 8), (4, 1, 3, 1, 3), (7, 1, 3, 5, 7))                # 9 px + 9 px
MERGE_PRED = paint((8, 8), (2, 1, 3, 1, 7))                               # 21 px
UNM_GT = paint((10, 10), (2, 0, 1, 0, 1), (9, 6, 8, 6, 8))                # 4 px + 9 px
UNM_PRED = paint((10, 10), (50, 6, 8, 6, 8), (3, 0, 1, 5, 6))             # 9 px + 4 px


def test_aji_split():
    # G pairs with S10 (IoU 12/16 beats 4/16): inter 12, union 16; S20 is unused: +4.
    assert aji(SPLIT_PRED, SPLIT_GT) == pytest.approx(12 / 20)


def test_aji_merge_counts_the_shared_prediction_in_every_union():
    # Both GT pair with S (IoU 9/21 each): inter 9 + 9, union 21 + 21 (HoVer-Net/Kumar).
    assert aji(MERGE_PRED, MERGE_GT) == pytest.approx(18 / 42)


def test_aji_unmatched():
    # G9 = S50: inter 9, union 9; G2 overlaps nothing: +4; S3 unused: +4.
    assert aji(UNM_PRED, UNM_GT) == pytest.approx(9 / 17)


def test_pq_split():
    # IoU(G, S10) = 0.75 > 0.5: one TP; S20 is a FP. DQ = 1 / (1 + 0.5), SQ = 0.75.
    assert panoptic_quality(SPLIT_PRED, SPLIT_GT) == pq_dict(2 / 3, 0.75, tp=1, fp=1, fn=0)
    # a stricter threshold drops the match: DQ = 0 / (0.5 * 2 + 0.5 * 1)
    assert panoptic_quality(SPLIT_PRED, SPLIT_GT, iou=0.75) == pq_dict(0, 0, tp=0, fp=2, fn=1)


def test_pq_merge():
    # IoU 9/21 < 0.5 for both GT: nothing matches.
    assert panoptic_quality(MERGE_PRED, MERGE_GT) == pq_dict(0, 0, tp=0, fp=1, fn=2)


def test_pq_unmatched():
    # G9 = S50 (IoU 1); G2 and S3 unmatched: DQ = 1 / (1 + 0.5 + 0.5), SQ = 1.
    assert panoptic_quality(UNM_PRED, UNM_GT) == pq_dict(0.5, 1.0, tp=1, fp=1, fn=1)


def test_pq_iou_of_exactly_one_half_is_not_a_match():
    gt = paint((6, 6), (1, 1, 4, 1, 2))         # 8 px
    pred = paint((6, 6), (5, 1, 4, 1, 3))       # 12 px, inter 8: IoU 8/12 = 2/3
    assert panoptic_quality(pred, gt)["tp"] == 1
    pred = paint((6, 6), (5, 1, 4, 2, 3))       # 8 px, inter 4: IoU 4 / 12 = 1/3
    assert panoptic_quality(pred, gt)["tp"] == 0
    pred = paint((6, 6), (5, 1, 4, 1, 4))       # 16 px, inter 8: IoU 8/16 exactly 0.5
    assert panoptic_quality(pred, gt) == pq_dict(0, 0, tp=0, fp=1, fn=1)
    with pytest.raises(InvalidValuesError, match="iou"):
        panoptic_quality(pred, gt, iou=0.3)


def test_empty_cases():
    empty = np.zeros((6, 6), np.int64)
    gt = paint((6, 6), (4, 0, 1, 0, 1), (8, 3, 5, 3, 5))
    assert aji(empty, empty) == 1.0
    assert panoptic_quality(empty, empty) == dict(dq=1.0, sq=1.0, pq=1.0, tp=0, fp=0, fn=0)
    assert aji(empty, gt) == 0.0
    assert panoptic_quality(empty, gt) == pq_dict(0, 0, tp=0, fp=0, fn=2)
    assert aji(gt, empty) == 0.0
    assert panoptic_quality(gt, empty) == pq_dict(0, 0, tp=0, fp=2, fn=0)
    assert aji(gt, gt) == 1.0
    assert panoptic_quality(gt, gt) == pq_dict(1, 1, tp=2, fp=0, fn=0)


# ---- reference: HoVer-Net's loops (remap + per-object masks), without the 1e-6 --------

def hovernet_tables(true, pred):
    true_ids = [i for i in np.unique(true) if i]
    pred_ids = [i for i in np.unique(pred) if i]
    inter = np.zeros((len(true_ids), len(pred_ids)))
    union = np.zeros_like(inter)
    for a, t in enumerate(true_ids):
        tm = true == t
        for b, p in enumerate(pred_ids):
            pm = pred == p
            inter[a, b] = (tm & pm).sum()
            union[a, b] = (tm | pm).sum()
    t_area = np.array([(true == t).sum() for t in true_ids])
    p_area = np.array([(pred == p).sum() for p in pred_ids])
    return inter, union, t_area, p_area


def hovernet_aji(true, pred):
    inter, union, t_area, p_area = hovernet_tables(true, pred)
    iou = np.where(inter > 0, inter / np.maximum(union, 1), 0.0)
    paired_pred = np.argmax(iou, axis=1)
    paired_true = np.nonzero(iou.max(axis=1) > 0)[0]
    paired_pred = paired_pred[paired_true]
    total_inter = inter[paired_true, paired_pred].sum()
    total_union = union[paired_true, paired_pred].sum()
    total_union += sum(t_area[i] for i in range(len(t_area)) if i not in set(paired_true))
    total_union += sum(p_area[j] for j in range(len(p_area)) if j not in set(paired_pred))
    return total_inter / total_union


def hovernet_pq(true, pred, match_iou=0.5):
    inter, union, _, _ = hovernet_tables(true, pred)
    iou = np.where(inter > 0, inter / np.maximum(union, 1), 0.0)
    iou[iou <= match_iou] = 0.0
    paired_true, paired_pred = np.nonzero(iou)
    tp = len(paired_true)
    fp, fn = iou.shape[1] - tp, iou.shape[0] - tp
    dq = tp / (tp + 0.5 * fp + 0.5 * fn)
    sq = iou[paired_true, paired_pred].sum() / tp if tp else 0.0
    return dq, sq, tp, fp, fn


def random_instances(rng, shape, n):
    out = np.zeros(shape, np.int64)
    for obj in rng.choice(10_000, size=n, replace=False) + 1:
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        h, w = rng.integers(2, 7, size=2)
        out[r:r + h, c:c + w] = obj
    return out


@pytest.mark.parametrize("seed", range(8))
def test_match_hovernet_reference(seed):
    rng = np.random.default_rng(seed)
    gt = random_instances(rng, (24, 24), 10)
    # the prediction jitters the GT's objects a little and adds/drops some
    pred = np.roll(gt, tuple(rng.integers(-1, 2, size=2)), axis=(0, 1)) * 3
    pred[rng.random(pred.shape) < 0.05] = 0
    pred = np.where(random_instances(rng, gt.shape, 3) > 0, 7777, pred)
    assert aji(pred, gt) == pytest.approx(hovernet_aji(gt, pred))
    dq, sq, tp, fp, fn = hovernet_pq(gt, pred)
    assert panoptic_quality(pred, gt) == pq_dict(dq, sq, tp, fp, fn)


def test_a_thousand_nuclei_shifted_by_one_pixel():
    # 33 x 33 grid of 3x4 nuclei (stride 5); the prediction shifts each one column right:
    # inter 9, union 15 -> IoU 0.6 > 0.5 everywhere. AJI = 1089 * 9 / (1089 * 15) = 0.6;
    # PQ: all 1089 match, DQ = 1, SQ = 0.6.
    gt = np.zeros((165, 165), np.int64)
    pred = np.zeros_like(gt)
    for k in range(33 * 33):
        r, c = 5 * (k // 33), 5 * (k % 33)
        gt[r:r + 3, c:c + 4] = 2 * k + 1
        pred[r:r + 3, c + 1:c + 5] = 3 * k + 2
    assert aji(pred, gt) == pytest.approx(0.6)
    assert panoptic_quality(pred, gt) == pq_dict(1.0, 0.6, tp=1089, fp=0, fn=0)


def test_aji_ties_go_to_the_smallest_id():
    # G = rows 0-3, cols 0-3 (16 px). A = rows 0-1, cols 0-1 (4 px inside): IoU 4/16.
    # B = 5 px inside + 4 px in row 4 (9 px): IoU 5 / (16 + 9 - 5) = 1/4, a tie.
    def image(id_a, id_b):
        pred = paint((8, 8), (id_a, 0, 1, 0, 1), (id_b, 2, 3, 2, 3), (id_b, 4, 4, 0, 3))
        pred[1, 3] = id_b
        return pred
    gt = paint((8, 8), (1, 0, 3, 0, 3))
    assert aji(image(3, 8), gt) == pytest.approx(4 / (16 + 9))    # G-A, B unused
    assert aji(image(8, 3), gt) == pytest.approx(5 / (20 + 4))    # G-B, A unused

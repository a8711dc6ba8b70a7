"""Object-level metrics on instance label images: object F1, GlaS Dice and Hausdorff, AJI, PQ.

Pure numpy + ``scipy.ndimage``. An instance label image is an integer array,
usually (H, W) (any shape works), where 0 is background and every object has
its own positive id; ids need not be consecutive. ``pred_inst`` and
``gt_inst`` must have the same shape.

All object pairings come from one sparse table of pairwise intersections
(:func:`overlap`), built with ``np.unique`` over joint labels, so images with
thousands of objects cost a few passes over the pixels, not one per object.

Empty images (no object at all):

* both empty: object F1 = 1, object Dice = 1, object Hausdorff = 0;
* exactly one empty: object F1 = 0, object Dice = 0 and object Hausdorff =
  the image diagonal ``sqrt(sum((s - 1)**2 for s in shape))``, the largest
  distance between two pixels of the image (no real segmentation of that image
  can score worse), so per-image values stay finite and can be averaged.

Nucleus instance metrics, :func:`aji` (Aggregated Jaccard Index) and
:func:`panoptic_quality`, follow HoVer-Net's reference functions (``get_fast_aji``
and ``get_fast_pq`` in ``metrics/stats_utils.py``, Graham et al. 2019) and use
the same intersection table. Differences from the reference, all in cases where
it is undefined or fuzzy: IoUs are exact (no ``+ 1e-6`` in the denominator); ties
in IoU go to the smallest prediction id; two empty images score 1.0 (the
reference divides 0 by 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from irpath.errors import InvalidValuesError, ShapeError


def _instances(labels, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype == bool:
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidValuesError(f"{name} must be an integer instance label image, "
                                 f"got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise InvalidValuesError(f"{name} holds negative ids (min {labels.min()}); "
                                 "0 is background and objects are positive")
    return labels


def relabel(labels) -> tuple[np.ndarray, np.ndarray]:
    """Renumber the objects of an instance label image as 1..N.

    Args:
        labels: (H, W) (or any shape) non-negative integer ids, 0 = background.

    Returns:
        ``(relabelled, ids)``: relabelled int64, same shape, with the i-th
        smallest id mapped to i (background stays 0); ``ids`` (N,) holds the
        original ids, so ``ids[i - 1]`` is the old id of new object i.
    """
    labels = _instances(labels, "labels")
    top = int(labels.max()) if labels.size else 0
    if top <= 4 * labels.size + 1024:  # ids small enough for a lookup table (no sort)
        ids = np.flatnonzero(np.bincount(labels.ravel(), minlength=1)[1:]) + 1
        lut = np.zeros(top + 1, dtype=np.int64)
        lut[ids] = np.arange(1, ids.size + 1)
        return lut[labels], ids.astype(labels.dtype)
    ids, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(labels.shape).astype(np.int64)
    if ids.size and ids[0] == 0:
        return inverse, ids[1:]
    return inverse + 1, ids  # no background pixel at all


@dataclass(frozen=True)
class Overlap:
    """Pairwise intersections between the objects of two instance label images.

    Objects are indexed 0..N-1 in increasing order of their original id.

    Attributes:
        pred, gt: relabelled images (int64, ids 1..N, 0 = background).
        pred_ids: (Np,) original prediction ids; gt_ids: (Ng,) ground-truth ids.
        pred_area: (Np,) pixels per predicted object; gt_area: (Ng,) per GT object.
        pair_gt, pair_pred: (M,) object indices of every pair with a nonzero
            intersection (each pair once); inter: (M,) its intersection in pixels.
    """

    pred: np.ndarray
    gt: np.ndarray
    pred_ids: np.ndarray
    gt_ids: np.ndarray
    pred_area: np.ndarray
    gt_area: np.ndarray
    pair_gt: np.ndarray
    pair_pred: np.ndarray
    inter: np.ndarray

    @property
    def n_pred(self) -> int:
        return int(self.pred_ids.size)

    @property
    def n_gt(self) -> int:
        return int(self.gt_ids.size)

    def pair_union(self) -> np.ndarray:
        """(M,) |G ∪ S| of every intersecting pair."""
        return self.gt_area[self.pair_gt] + self.pred_area[self.pair_pred] - self.inter

    def pair_iou(self) -> np.ndarray:
        """(M,) intersection over union of every intersecting pair."""
        return self.inter / self.pair_union()


def overlap(pred_inst, gt_inst) -> Overlap:
    """Sparse table of pairwise object intersections (see :class:`Overlap`).

    Args:
        pred_inst: (H, W) predicted instance labels, 0 = background.
        gt_inst: (H, W) ground-truth instance labels, same shape.

    Returns:
        An :class:`Overlap`.

    Raises:
        ShapeError: the images differ in shape.
        InvalidValuesError: non-integer or negative labels.
    """
    pred_inst = _instances(pred_inst, "pred_inst")
    gt_inst = _instances(gt_inst, "gt_inst")
    if pred_inst.shape != gt_inst.shape:
        raise ShapeError(f"pred_inst and gt_inst must have the same shape, got "
                         f"{pred_inst.shape} and {gt_inst.shape}")
    pred, pred_ids = relabel(pred_inst)
    gt, gt_ids = relabel(gt_inst)
    n_pred, n_gt = pred_ids.size, gt_ids.size
    pred_area = np.bincount(pred.ravel(), minlength=n_pred + 1)[1:]
    gt_area = np.bincount(gt.ravel(), minlength=n_gt + 1)[1:]
    both = (pred > 0) & (gt > 0)
    codes = (gt[both] - 1) * n_pred + (pred[both] - 1)
    if n_gt * n_pred <= max(4 * codes.size, 1 << 20):  # dense count is cheap: no sort
        counts = np.bincount(codes, minlength=n_gt * n_pred)
        codes = np.flatnonzero(counts)
        inter = counts[codes]
    else:
        codes, inter = np.unique(codes, return_counts=True)
    return Overlap(pred=pred, gt=gt, pred_ids=pred_ids, gt_ids=gt_ids,
                   pred_area=pred_area, gt_area=gt_area,
                   pair_gt=codes // max(n_pred, 1), pair_pred=codes % max(n_pred, 1),
                   inter=inter.astype(np.int64))


def best_match(rows, cols, scores, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the column of its highest-scoring pair (ties: smallest column).

    Args:
        rows, cols: (M,) integer indices of the candidate pairs.
        scores: (M,) the pairs' scores (e.g. intersections or IoUs).
        n_rows: number of rows.

    Returns:
        ``(partner, score)``, each (n_rows,): the chosen column (-1 for a row
        without any pair) and its score (0 for a row without any pair).
    """
    rows, cols, scores = np.asarray(rows), np.asarray(cols), np.asarray(scores)
    partner = np.full(n_rows, -1, dtype=np.int64)
    best = np.zeros(n_rows, dtype=np.result_type(scores.dtype, np.int64))
    if rows.size:
        order = np.lexsort((cols, -scores, rows))  # by row, then best score, then column
        first_rows, first = np.unique(rows[order], return_index=True)
        partner[first_rows] = cols[order][first]
        best[first_rows] = scores[order][first]
    return partner, best


def object_f1(pred_inst, gt_inst) -> dict:
    """Object detection F1 (Qu et al. 2019, §3.1).

    A predicted object is a true positive when it covers **more than 50 %** of a
    ground-truth object's area (exactly 50 % is not enough). Since predicted
    objects are disjoint, at most one of them can cover more than half of a
    given GT object, so each GT object is matched at most once; a prediction
    covering more than half of several GT objects (a merge) counts as one TP and
    the other GT objects are false negatives. FP = unmatched predictions,
    FN = unmatched GT objects. (Qu's own code tests only the GT object of
    highest IoU with each prediction; this follows the paper's sentence.)

    Args:
        pred_inst: (H, W) predicted instance labels, 0 = background.
        gt_inst: (H, W) ground-truth instance labels.

    Returns:
        ``dict(tp, fp, fn, precision, recall, f1)``; a ratio with a zero
        denominator is 1.0 when both images are empty, else 0.0.
    """
    ov = overlap(pred_inst, gt_inst)
    covers = 2 * ov.inter > ov.gt_area[ov.pair_gt]  # > 50 % of the GT object, exact
    tp = int(np.unique(ov.pair_pred[covers]).size)
    fp, fn = ov.n_pred - tp, ov.n_gt - tp
    empty = 1.0 if ov.n_pred == 0 and ov.n_gt == 0 else 0.0

    def ratio(num: int, den: int) -> float:
        return num / den if den else empty

    return dict(tp=tp, fp=fp, fn=fn, precision=ratio(tp, tp + fp),
                recall=ratio(tp, tp + fn), f1=ratio(2 * tp, 2 * tp + fp + fn))


def glas_object_dice(pred_inst, gt_inst) -> float:
    """Object-level Dice of the GlaS challenge (Sirinukunwattana et al. 2017).

    Dice_obj = 1/2 [sum_i gamma_i Dice(G_i, S*(G_i)) + sum_j sigma_j Dice(G*(S_j), S_j)]
    with gamma_i = |G_i| / sum |G|, sigma_j = |S_j| / sum |S|, S*(G_i) the
    predicted object of largest overlap with G_i (ties: smallest id, like
    MATLAB's ``mode`` in the GlaS code) and Dice 0 when nothing overlaps;
    G*(S_j) likewise.

    Args:
        pred_inst: (H, W) predicted instance labels, 0 = background.
        gt_inst: (H, W) ground-truth instance labels.

    Returns:
        Dice_obj in [0, 1]: 1.0 when both images are empty, 0.0 when only one is.
    """
    ov = overlap(pred_inst, gt_inst)
    if ov.n_gt == 0 or ov.n_pred == 0:
        return 1.0 if ov.n_gt == ov.n_pred else 0.0
    terms = []
    for rows, cols, area, other_area in ((ov.pair_gt, ov.pair_pred, ov.gt_area, ov.pred_area),
                                         (ov.pair_pred, ov.pair_gt, ov.pred_area, ov.gt_area)):
        partner, inter = best_match(rows, cols, ov.inter, area.size)
        matched = partner >= 0
        dice_k = np.zeros(area.size)
        dice_k[matched] = 2.0 * inter[matched] / (area[matched] + other_area[partner[matched]])
        terms.append(float((area * dice_k).sum() / area.sum()))
    return 0.5 * (terms[0] + terms[1])


def _bbox_mask(mask: np.ndarray):
    """Slices of the bounding box of the True pixels of ``mask`` (None if empty)."""
    boxes = ndimage.find_objects(mask.astype(np.int8))
    return boxes[0] if boxes else None


def _hausdorff_in_crop(a: np.ndarray, b: np.ndarray) -> float:
    """Hausdorff distance of two non-empty masks cropped to (at least) their union's box."""
    to_b = ndimage.distance_transform_edt(~b)  # distance of every pixel to the nearest b pixel
    to_a = ndimage.distance_transform_edt(~a)
    return float(max(to_b[a].max(), to_a[b].max()))


def hausdorff_distance(mask_a, mask_b) -> float:
    """Symmetric Hausdorff distance between two binary masks, in pixels.

    max(max_{a in A} d(a, B), max_{b in B} d(b, A)) with Euclidean distance
    between pixel centres, computed exactly with two Euclidean distance
    transforms on the bounding box of A ∪ B.

    Args:
        mask_a: (H, W) bool (nonzero = inside).
        mask_b: (H, W) bool, same shape.

    Returns:
        The distance; 0.0 when both masks are empty, ``inf`` when exactly one is.
    """
    a, b = np.asarray(mask_a).astype(bool), np.asarray(mask_b).astype(bool)
    if a.shape != b.shape:
        raise ShapeError(f"mask_a and mask_b must have the same shape, got {a.shape} "
                         f"and {b.shape}")
    has_a, has_b = bool(a.any()), bool(b.any())
    if not (has_a and has_b):
        return 0.0 if has_a == has_b else math.inf
    box = _bbox_mask(a | b)
    return _hausdorff_in_crop(a[box], b[box])


def _boxes(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, ndim) first and last (inclusive) coordinates of objects 1..n."""
    slices = ndimage.find_objects(labels, max_label=n)
    lo = np.array([[s.start for s in sl] for sl in slices], dtype=np.int64)
    hi = np.array([[s.stop - 1 for s in sl] for sl in slices], dtype=np.int64)
    return lo.reshape(n, labels.ndim), hi.reshape(n, labels.ndim)


class _ObjectHausdorff:
    """Hausdorff distances between objects of two relabelled images, cached per pair."""

    def __init__(self, ov: Overlap):
        self.ov = ov
        self.gt_lo, self.gt_hi = _boxes(ov.gt, ov.n_gt)
        self.pred_lo, self.pred_hi = _boxes(ov.pred, ov.n_pred)
        self.cache: dict[tuple[int, int], float] = {}

    def pair(self, g: int, p: int) -> float:
        """Hausdorff distance between GT object g and predicted object p (0-based)."""
        key = (g, p)
        if key not in self.cache:
            lo = np.minimum(self.gt_lo[g], self.pred_lo[p])
            hi = np.maximum(self.gt_hi[g], self.pred_hi[p])
            box = tuple(slice(s, e + 1) for s, e in zip(lo, hi))
            self.cache[key] = _hausdorff_in_crop(self.ov.gt[box] == g + 1,
                                                 self.ov.pred[box] == p + 1)
        return self.cache[key]

    def nearest(self, k: int, of_gt: bool) -> float:
        """Smallest Hausdorff distance from object k to any object of the other image.

        Candidates are visited in increasing order of a lower bound: for every
        axis, HD(A, B) >= |min_A - min_B| and >= |max_A - max_B| (the extreme
        pixel of one object is at least that far from all of the other), so the
        search stops once the bound reaches the best distance found.
        """
        if of_gt:
            lo, hi, olo, ohi = self.gt_lo[k], self.gt_hi[k], self.pred_lo, self.pred_hi
        else:
            lo, hi, olo, ohi = self.pred_lo[k], self.pred_hi[k], self.gt_lo, self.gt_hi
        bound = np.maximum(np.abs(olo - lo), np.abs(ohi - hi)).max(axis=1)
        best = math.inf
        for j in np.argsort(bound, kind="stable"):
            if bound[j] >= best:
                break
            best = min(best, self.pair(k, int(j)) if of_gt else self.pair(int(j), k))
        return best


def glas_object_hausdorff(pred_inst, gt_inst) -> float:
    """Object-level Hausdorff distance of the GlaS challenge (Sirinukunwattana et al. 2017).

    H_obj = 1/2 [sum_i gamma_i H(G_i, S*(G_i)) + sum_j sigma_j H(G*(S_j), S_j)],
    weights and partners as in :func:`glas_object_dice`. As in the GlaS
    evaluation code, an object that overlaps nothing is paired with the object of
    the other image at the smallest Hausdorff distance. Distances are exact
    Euclidean, in pixels (see :func:`hausdorff_distance`).

    Args:
        pred_inst: (H, W) predicted instance labels, 0 = background.
        gt_inst: (H, W) ground-truth instance labels.

    Returns:
        H_obj >= 0 in pixels: 0.0 when both images are empty, the image diagonal
        ``sqrt(sum((s - 1)**2))`` when only one is.
    """
    ov = overlap(pred_inst, gt_inst)
    if ov.n_gt == 0 or ov.n_pred == 0:
        if ov.n_gt == ov.n_pred:
            return 0.0
        return float(math.sqrt(sum((s - 1) ** 2 for s in ov.gt.shape)))
    hd = _ObjectHausdorff(ov)
    g2p, _ = best_match(ov.pair_gt, ov.pair_pred, ov.inter, ov.n_gt)
    p2g, _ = best_match(ov.pair_pred, ov.pair_gt, ov.inter, ov.n_pred)
    h_gt = np.array([hd.pair(g, int(p)) if p >= 0 else hd.nearest(g, of_gt=True)
                     for g, p in enumerate(g2p)])
    h_pred = np.array([hd.pair(int(g), p) if g >= 0 else hd.nearest(p, of_gt=False)
                       for p, g in enumerate(p2g)])
    return 0.5 * (float((ov.gt_area * h_gt).sum() / ov.gt_area.sum())
                  + float((ov.pred_area * h_pred).sum() / ov.pred_area.sum()))


def aji(pred_inst, gt_inst) -> float:
    """Aggregated Jaccard Index (Kumar et al. 2017), as HoVer-Net's ``get_fast_aji``.

    Every GT object G_i that overlaps a prediction is paired with the predicted
    object S_j of highest IoU (a prediction may serve several GT objects);
    AJI = sum |G_i ∩ S_j| / (sum |G_i ∪ S_j| + |GT objects overlapping nothing|
    + |predictions paired with no GT object|), areas summed over objects.

    Args:
        pred_inst: (H, W) predicted instance labels, 0 = background.
        gt_inst: (H, W) ground-truth instance labels.

    Returns:
        AJI in [0, 1]: 1.0 when both images are empty, 0.0 when only one is.
    """
    ov = overlap(pred_inst, gt_inst)
    if ov.n_gt == 0 and ov.n_pred == 0:
        return 1.0
    pair = best_match(ov.pair_gt, ov.pair_pred, ov.pair_iou(), ov.n_gt)[0]
    paired = pair >= 0
    # Look up the chosen pairs' intersections in the sparse table by their code.
    codes = ov.pair_gt * max(ov.n_pred, 1) + ov.pair_pred
    chosen = np.flatnonzero(paired) * max(ov.n_pred, 1) + pair[paired]
    inter = ov.inter[np.searchsorted(codes, chosen)]  # codes are sorted (np.unique)
    gt_area_paired = ov.gt_area[paired]
    union = int((gt_area_paired + ov.pred_area[pair[paired]] - inter).sum())
    union += int(ov.gt_area[~paired].sum())
    used = np.zeros(ov.n_pred, dtype=bool)
    used[pair[paired]] = True
    union += int(ov.pred_area[~used].sum())
    return float(inter.sum()) / union


def panoptic_quality(pred_inst, gt_inst, iou: float = 0.5) -> dict:
    """Panoptic quality (Kirillov et al. 2019), as HoVer-Net's ``get_fast_pq``.

    A GT and a predicted object match when their IoU is **strictly greater**
    than ``iou``. For ``iou >= 0.5`` every object has at most one such partner,
    so no assignment step is needed (thresholds below 0.5 would need one and are
    refused). DQ = TP / (TP + FP/2 + FN/2), SQ = mean IoU of the matches,
    PQ = DQ * SQ.

    Args:
        pred_inst: (H, W) predicted instance labels, 0 = background.
        gt_inst: (H, W) ground-truth instance labels.
        iou: match threshold in [0.5, 1).

    Returns:
        ``dict(dq, sq, pq, tp, fp, fn)``: SQ is 0.0 without matches; all three
        qualities are 1.0 when both images are empty.

    Raises:
        InvalidValuesError: ``iou`` outside [0.5, 1).
    """
    if not 0.5 <= iou < 1.0:
        raise InvalidValuesError(f"panoptic_quality: iou must be in [0.5, 1) so that "
                                 f"matches are unique, got {iou}")
    ov = overlap(pred_inst, gt_inst)
    ious = ov.pair_iou()
    matched = ious > iou
    tp = int(matched.sum())
    fp, fn = ov.n_pred - tp, ov.n_gt - tp
    if ov.n_gt == 0 and ov.n_pred == 0:
        return dict(dq=1.0, sq=1.0, pq=1.0, tp=0, fp=0, fn=0)
    dq = tp / (tp + 0.5 * fp + 0.5 * fn)
    sq = float(ious[matched].sum()) / tp if tp else 0.0
    return dict(dq=dq, sq=sq, pq=dq * sq, tp=tp, fp=fp, fn=fn)

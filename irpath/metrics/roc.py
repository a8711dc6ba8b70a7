"""Receiver operating characteristic for spot-level scores (e.g. tumour fractions).

Pure numpy. Tied scores are one operating point, so the area equals the
Mann-Whitney U statistic / (n_pos * n_neg) with ties counted as 1/2.
"""

from __future__ import annotations

import numpy as np


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have the same length, got {scores.size} "
                         f"and {labels.size}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or Inf")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0/1 (or bool)")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("ROC needs both classes; labels hold only one")
    return scores, labels


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: one point per distinct score, from (0, 0) to (1, 1).

    A sample is called positive when its score is >= the threshold.

    Args:
        scores: (N,) higher = more likely positive.
        labels: (N,) 1/True = positive (cancer), 0/False = negative.

    Returns:
        ``(fpr, tpr, thresholds)``, each (K + 1,) for K distinct scores:
        non-decreasing rates; thresholds descending, starting at +inf (nothing called positive).

    Raises:
        ValueError: mismatched lengths, non-finite scores, non-binary labels or one class only.
    """
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]  # end of each tie group
    tp = np.cumsum(labels)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / labels.sum()]
    fpr = np.r_[0.0, fp / (~labels).sum()]
    return fpr, tpr, np.r_[np.inf, scores[last]]


def roc_auc(scores, labels) -> float:
    """Area under :func:`roc_curve` by the trapezoid rule.

    Equals P(score_pos > score_neg) + P(score_pos == score_neg) / 2.

    Args:
        scores: (N,) higher = more likely positive.
        labels: (N,) 1/True = positive, 0/False = negative.

    Raises:
        ValueError: as :func:`roc_curve`.
    """
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(np.trapezoid(tpr, fpr))

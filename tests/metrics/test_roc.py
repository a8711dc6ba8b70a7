import numpy as np
import pytest

from irpath.metrics import roc_auc, roc_curve


def _mann_whitney(scores, labels):
    """P(pos > neg) + P(pos == neg) / 2, by brute force over all pairs."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (pos.size * neg.size)


def test_perfect_and_inverted():
    labels = [0, 0, 1, 1]
    assert roc_auc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], labels) == 0.0


def test_hand_computed_value():
    # pairs (pos, neg): 0.8>0.2 0.8>0.5 ; 0.4>0.2 0.4<0.5 -> 3/4
    assert roc_auc([0.2, 0.5, 0.4, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_all_tied_is_one_half():
    assert roc_auc([0.3] * 6, [0, 1, 0, 1, 1, 0]) == pytest.approx(0.5)
    fpr, tpr, thr = roc_curve([0.3] * 6, [0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(fpr, [0, 1])
    np.testing.assert_array_equal(tpr, [0, 1])
    assert thr[0] == np.inf and thr[1] == 0.3


@pytest.mark.parametrize("seed", range(5))
def test_matches_mann_whitney_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(15, int), np.zeros(11, int)]
    rng.shuffle(labels)
    scores = rng.integers(0, 6, labels.size) + labels * rng.integers(0, 3, labels.size)
    assert roc_auc(scores, labels) == pytest.approx(_mann_whitney(scores, labels))


def test_random_scores_near_one_half():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 4000)
    assert abs(roc_auc(rng.random(4000), labels) - 0.5) < 0.03


def test_curve_endpoints_and_monotonicity():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 50).astype(bool)
    labels[:2] = [True, False]
    scores = np.round(rng.random(50), 1)  # many ties
    fpr, tpr, thr = roc_curve(scores, labels)
    assert (fpr[0], tpr[0]) == (0, 0) and (fpr[-1], tpr[-1]) == (1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.all(np.diff(thr) < 0)
    assert thr.size == np.unique(scores).size + 1
    # each point: rates of calling "score >= threshold" positive
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:]):
        called = scores >= th
        assert t == pytest.approx(called[labels].mean())
        assert f == pytest.approx(called[~labels].mean())


@pytest.mark.parametrize("scores, labels, match", [
    ([0.1, 0.2], [1, 1], "both classes"),
    ([0.1, 0.2], [0, 2], "0/1"),
    ([0.1, np.nan], [0, 1], "NaN"),
    ([0.1, 0.2, 0.3], [0, 1], "same length"),
])
def test_bad_input(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        roc_auc(scores, labels)

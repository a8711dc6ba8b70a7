"""fcn evaluation helpers: hand-computed cross-entropy, summed confusion == pixel_report, post-processing."""

import math

import numpy as np
import pytest

from irpath.methods.fcn.evaluate import argmax_classes, mean_cross_entropy, report_from_confusion
from irpath.metrics import confusion_matrix, pixel_report


def test_mean_cross_entropy_hand_computed():
    probs = np.array([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]])         # (1, 2, 3)
    target = np.array([[0, 1]])
    assert mean_cross_entropy(probs, target) == pytest.approx(-(math.log(0.7) + math.log(0.1)) / 2)
    assert mean_cross_entropy(np.array([[[0.0, 1.0, 0.0]]]), np.array([[0]])) == pytest.approx(
        -math.log(1e-7))                                           # clipped like the loss


def test_summed_confusion_report_equals_pixel_report_on_all_pixels(rng):
    preds = [rng.integers(0, 3, (5, 7)) for _ in range(3)]
    truths = [rng.integers(0, 2, (5, 7)) for _ in range(3)]        # no background in the truth
    total = sum(confusion_matrix(p, t, 3) for p, t in zip(preds, truths))
    names = ("cancer", "stroma", "background")
    expected = pixel_report(np.stack(preds), np.stack(truths), 3, names)
    got = report_from_confusion(total)
    for key in expected:
        assert got[key] == (pytest.approx(expected[key]) if isinstance(expected[key], float)
                            else expected[key]), key


def test_postprocess_classes_and_fractions():
    from irpath.methods import get_method

    maps = np.zeros((2, 2, 3), np.float32)
    maps[..., 2] = 1.0
    maps[0, 0] = (0.6, 0.3, 0.1)
    result = get_method("fcn").postprocess(maps, None, None)
    np.testing.assert_array_equal(result["arrays"]["classes"], argmax_classes(maps))
    assert result["arrays"]["classes"].dtype == np.int32
    assert result["summary"] == {"cancer_fraction": 0.25, "stroma_fraction": 0.0,
                                 "background_fraction": 0.75}

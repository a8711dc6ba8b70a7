import math
import time

import numpy as np

from irpath.demo.nuclei import make_nuclei_tile
from irpath.methods.nuclei.targets import (CONTOUR, W0, SIGMA, boundary_mask, five_class_target, inner_mask, pack_targets,
                                           weight_map, weight_margin)


def weight_map_brute_force(label, w0: float = W0, sigma: float = SIGMA) -> np.ndarray:
    """Eq. 2 the slow way, written independently: every pixel against every boundary pixel
    of every nucleus, w = 1 + w0 exp(-(d1 + d2)^2 / (2 sigma^2))."""
    label = np.asarray(label)
    boundary = boundary_mask(label)
    yy, xx = np.mgrid[:label.shape[0], :label.shape[1]]
    pixels = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64)
    dists = []
    for index in np.unique(label[label > 0]):
        rim = np.argwhere(boundary & (label == index)).astype(np.float64)
        diff = pixels[:, None, :] - rim[None, :, :]
        dists.append(np.sqrt((diff ** 2).sum(-1)).min(axis=1))
    if len(dists) < 2:
        return np.ones(label.shape, np.float32)
    d = np.sort(np.stack(dists), axis=0)
    return (1.0 + w0 * np.exp(-((d[0] + d[1]) ** 2) / (2.0 * sigma ** 2))).reshape(label.shape)


def test_single_nucleus_target_by_hand():
    label = np.zeros((9, 12), np.int32)
    label[2:7, 2:7] = 3  # a 5x5 tumour nucleus
    t = five_class_target(label)
    inner = np.zeros_like(label, bool)
    inner[3:6, 3:6] = True
    np.testing.assert_array_equal(t == 1, inner)
    # contour: not inner and within Euclidean distance 2 of the inner part
    assert t[2, 2] == CONTOUR and t[1, 3] == CONTOUR and t[4, 1] == CONTOUR  # sqrt(2), 2, 2
    assert t[1, 2] == 0 and t[0, 4] == 0 and t[4, 0] == 0  # sqrt(5), 3, 3
    assert set(np.unique(t)) == {0, 1, CONTOUR}


def test_touching_nuclei_are_separated_by_contour():
    label = np.zeros((9, 14), np.int32)
    label[2:7, 2:7] = 4  # lymphocyte
    label[2:7, 7:12] = 5  # stroma, touching along columns 6 | 7
    t = five_class_target(label)
    assert np.all(t[3:6, 3:6] == 2) and np.all(t[3:6, 8:11] == 3)
    assert np.all(t[2:7, 6:8] == CONTOUR)  # both rims
    inner = (t >= 1) & (t <= 3)
    from scipy import ndimage
    assert ndimage.label(inner, np.ones((3, 3)))[1] == 2


def test_tile_edge_is_not_a_rim():
    label = np.zeros((6, 6), np.int32)
    label[0:4, 0:4] = 6
    inner = inner_mask(label)
    assert inner[0, 0] and inner[2, 2] and not inner[3, 3] and not inner[0, 3]


def test_weight_map_by_hand():
    label = np.zeros((11, 11), np.int32)
    label[5, 2] = 1
    label[5, 5] = 2  # two one-pixel nuclei
    w = weight_map(label)
    expected = 1 + 10 * math.exp(-(1 + 2) ** 2 / (2 * 25))  # pixel (5, 3): d1 = 1, d2 = 2
    assert abs(w[5, 3] - expected) < 1e-6
    assert abs(w[5, 2] - (1 + 10 * math.exp(-9 / 50))) < 1e-6  # on a nucleus: d1 = 0, d2 = 3
    single = np.zeros((8, 8), np.int32)
    single[2:5, 2:5] = 3
    np.testing.assert_array_equal(weight_map(single), 1.0)


def test_weight_map_matches_brute_force_on_synthetic_tile():
    _, label = make_nuclei_tile(64, n_nuclei=20, seed=3)
    assert len(np.unique(label)) > 12 and weight_margin() < 64 / 2  # boxes do truncate
    fast, slow = weight_map(label), weight_map_brute_force(label)
    assert np.abs(fast - slow).max() <= 10 * 1e-3
    assert slow.max() > 5  # the term matters somewhere
    # a loose tolerance truncates more, but stays within its bound
    coarse = weight_map(label, tol=0.1)
    assert weight_margin(tol=0.1) < weight_margin()
    assert np.abs(coarse - slow).max() <= 10 * 0.1


def test_weight_map_scales_to_hundreds_of_nuclei():
    _, label = make_nuclei_tile(256, seed=1)
    assert len(np.unique(label)) > 150
    start = time.perf_counter()
    w = weight_map(label)
    assert time.perf_counter() - start < 5.0
    assert w.shape == label.shape and 1.0 <= w.min() and w.max() <= 11.0


def test_pack_targets():
    _, label = make_nuclei_tile(32, seed=0)
    y = pack_targets(label)
    assert y.shape == (32, 32, 2) and y.dtype == np.float32
    np.testing.assert_array_equal(y[..., 0], five_class_target(label))
    np.testing.assert_allclose(y[..., 1], weight_map(label))

import numpy as np

from irpath.baselines.watershed import haematoxylin, otsu_threshold, otsu_watershed
from irpath.demo.nuclei import make_nuclei_tile
from irpath.metrics.objects import object_f1


def _brute_force_otsu(x):
    """Integer threshold t maximising the between-class variance of x <= t vs x > t."""
    best, best_t = -1.0, None
    for t in range(int(x.min()), int(x.max())):
        lo, hi = x[x <= t], x[x > t]
        if lo.size == 0 or hi.size == 0:
            continue
        between = lo.size * hi.size * (lo.mean() - hi.mean()) ** 2
        if between > best:
            best, best_t = between, t
    return best_t


def test_otsu_matches_brute_force(rng):
    for seed in range(4):
        r = np.random.default_rng(seed)
        x = np.concatenate([r.normal(60 + 10 * seed, 15, 400), r.normal(170, 25, 250)])
        x = np.clip(np.round(x), 0, 255)
        x[:2] = (0, 255)  # the histogram spans [0, 255]: one bin per integer
        t = otsu_threshold(x)
        np.testing.assert_array_equal(x > t, x > _brute_force_otsu(x))


def test_otsu_constant_and_bimodal_floats(rng):
    assert otsu_threshold(np.full(10, 3.0)) == 3.0
    x = np.concatenate([rng.normal(0.2, 0.02, 500), rng.normal(0.8, 0.02, 500)])
    np.testing.assert_array_equal(x > otsu_threshold(x), np.arange(1000) >= 500)


def test_haematoxylin_is_high_on_nuclei():
    rgb, label = make_nuclei_tile(64, seed=2)
    h = haematoxylin(rgb)
    assert h[label > 0].mean() > 2 * h[label == 0].mean()


def test_watershed_splits_two_touching_discs():
    yy, xx = np.mgrid[:40, :60]
    discs = [((20, 20), 9), ((20, 35), 9)]  # centres 15 px apart: overlapping discs
    truth = np.zeros((40, 60), np.int32)
    for k, ((cy, cx), r) in enumerate(discs, start=1):
        truth[((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (truth == 0)] = k
    od = 1.2 * (truth > 0)[..., None] * np.array([0.65, 0.70, 0.29]) + 0.05
    rgb = np.round(255 * 10.0 ** (-od)).astype(np.uint8)
    inst = otsu_watershed(rgb)
    assert inst.dtype == np.int32 and inst.max() == 2
    assert object_f1(inst, truth)["f1"] == 1.0


def test_watershed_on_a_synthetic_tile():
    rgb, label = make_nuclei_tile(128, seed=0)
    inst = otsu_watershed(rgb)
    assert object_f1(inst, label)["f1"] > 0.8

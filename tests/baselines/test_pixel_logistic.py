import numpy as np
import pytest
from scipy import ndimage, optimize

from irpath.baselines import pixel_logistic as pl
from irpath.errors import ShapeError


def _toy(rng, n=3, size=20):
    """Class = which of R, G, B is largest: linearly separable in raw RGB."""
    images = rng.uniform(0, 255, size=(n, size, size, 3))
    return images, np.argmax(images, axis=-1)


def test_recovers_linearly_separable_problem(rng):
    images, labels = _toy(rng)
    model = pl.fit(images, labels, box_sizes=(), l2=1e-6, n_samples=2000, seed=1)
    test_images, test_labels = _toy(np.random.default_rng(5), n=2)
    acc = np.mean([np.mean(pl.predict(model, im) == lab) for im, lab in zip(test_images, test_labels)])
    assert acc > 0.98, acc
    probs = pl.predict_proba(model, test_images[0])
    assert probs.shape == (20, 20, 3)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-12)


def test_features_match_brute_force(rng):
    image = rng.random((6, 7, 2))
    f = pl.pixel_features(image, box_sizes=(3,))
    assert f.shape == (6, 7, 6)
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="symmetric")  # scipy "reflect"
    i, j = 2, 0
    window = padded[i:i + 3, j:j + 3]
    np.testing.assert_allclose(f[i, j, :2], image[i, j])
    np.testing.assert_allclose(f[i, j, 2:4], window.mean(axis=(0, 1)), rtol=1e-10)
    np.testing.assert_allclose(f[i, j, 4:6], window.std(axis=(0, 1)), rtol=1e-6, atol=1e-9)


def test_gradient_is_exact(rng):
    x = rng.standard_normal((30, 4))
    y = np.eye(3)[rng.integers(0, 3, 30)]
    params = rng.standard_normal(4 * 3 + 3)
    err = optimize.check_grad(lambda p: pl._objective(p, x, y, 0.1)[0],
                              lambda p: pl._objective(p, x, y, 0.1)[1], params)
    assert err < 1e-5


def test_neighbourhood_features_help_on_texture(rng):
    # Same mean colour, class 1 is noisier: pixel colour alone is near chance, box std is not.
    labels = np.zeros((40, 40), int)
    labels[:, 20:] = 1
    noise = rng.normal(0, 1, (40, 40, 3)) * np.where(labels == 1, 60, 5)[..., None]
    image = 128 + ndimage.gaussian_filter(noise, (0.5, 0.5, 0))
    raw = pl.fit([image], [labels], box_sizes=(), seed=0)
    boxed = pl.fit([image], [labels], box_sizes=(5,), seed=0)
    acc_raw = np.mean(pl.predict(raw, image) == labels)
    acc_box = np.mean(pl.predict(boxed, image) == labels)
    assert acc_box > 0.9 and acc_box > acc_raw + 0.1, (acc_raw, acc_box)


def test_shape_errors():
    with pytest.raises(ShapeError, match="2 images but 1"):
        pl.fit([np.zeros((4, 4, 3))] * 2, [np.zeros((4, 4), int)])
    with pytest.raises(ShapeError, match="label shape"):
        pl.fit([np.zeros((4, 4, 3))], [np.zeros((4, 5), int)])

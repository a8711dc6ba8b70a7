"""Per-pixel multinomial logistic regression on colour and local box statistics.

The baseline every RGB segmenter should beat: each pixel is classified from
its own RGB value plus the mean and standard deviation of each channel in
square boxes around it (``scipy.ndimage.uniform_filter``). Features are
standardised; the softmax weights are fitted with L-BFGS-B on a random sample
of pixels, minimising mean cross-entropy + ``l2 / 2 * ||W||^2`` (bias not
penalised). Pure numpy/scipy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage, optimize
from scipy.special import log_softmax, softmax

from irpath.errors import ShapeError


@dataclasses.dataclass(frozen=True)
class PixelLogistic:
    """A fitted model.

    Attributes:
        weights: (F, K) feature weights (on standardised features).
        bias: (K,) intercepts.
        mean, std: (F,) feature standardisation.
        box_sizes: box side lengths used for the neighbourhood features.
    """

    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    box_sizes: tuple[int, ...]

    @property
    def n_classes(self) -> int:
        return int(self.weights.shape[1])


def pixel_features(image, box_sizes=(7,)) -> np.ndarray:
    """(H, W, C) image -> (H, W, C * (1 + 2 * len(box_sizes))) features.

    For each box size s: per-channel box mean and box standard deviation over
    the s x s neighbourhood (reflecting edges), after the raw channel values.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3:
        raise ShapeError(f"expected an (H, W, C) image, got shape {image.shape}")
    feats = [image]
    for s in box_sizes:
        size = (int(s), int(s), 1)
        mean = ndimage.uniform_filter(image, size=size, mode="reflect")
        sq = ndimage.uniform_filter(image**2, size=size, mode="reflect")
        feats += [mean, np.sqrt(np.maximum(sq - mean**2, 0.0))]
    return np.concatenate(feats, axis=-1)


def _objective(params, x, y_onehot, l2):
    """Mean cross-entropy + l2/2 ||W||^2 and its gradient; params = [W.ravel(), b]."""
    n, f = x.shape
    k = y_onehot.shape[1]
    w, b = params[: f * k].reshape(f, k), params[f * k:]
    logits = x @ w + b
    logp = log_softmax(logits, axis=1)
    loss = -np.sum(y_onehot * logp) / n + 0.5 * l2 * np.sum(w * w)
    residual = (np.exp(logp) - y_onehot) / n
    grad_w = x.T @ residual + l2 * w
    return loss, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])


def fit(images, labels, *, n_classes: int | None = None, box_sizes=(7,), n_samples: int = 50_000,
        l2: float = 1e-3, seed: int = 0, max_iter: int = 500) -> PixelLogistic:
    """Fit the baseline on a sample of pixels from ``images``.

    Args:
        images: sequence of (H, W, C) arrays (sizes may differ), or an (N, H, W, C) array.
        labels: matching (H, W) integer class maps.
        n_classes: K; default ``max(label) + 1``.
        box_sizes: neighbourhood box sizes; ``()`` uses the raw pixel only.
        n_samples: pixels drawn uniformly at random (all pixels if fewer).
        l2: L2 penalty on the weights.
        seed: sampling seed.
        max_iter: L-BFGS-B iteration limit.
    """
    if len(images) != len(labels):
        raise ShapeError(f"{len(images)} images but {len(labels)} label maps")
    feats, ys = [], []
    for image, label in zip(images, labels):
        f = pixel_features(image, box_sizes)
        label = np.asarray(label)
        if label.shape != f.shape[:2]:
            raise ShapeError(f"label shape {label.shape} differs from image shape {f.shape[:2]}")
        feats.append(f.reshape(-1, f.shape[-1]))
        ys.append(label.reshape(-1).astype(np.int64))
    x, y = np.concatenate(feats), np.concatenate(ys)
    k = int(n_classes) if n_classes is not None else int(y.max()) + 1
    if len(y) > n_samples:
        pick = np.random.default_rng(seed).choice(len(y), size=n_samples, replace=False)
        x, y = x[pick], y[pick]
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-8)
    x = (x - mean) / std
    onehot = np.eye(k)[y]
    f = x.shape[1]
    result = optimize.minimize(_objective, np.zeros(f * k + k), args=(x, onehot, l2), jac=True,
                               method="L-BFGS-B", options={"maxiter": max_iter})
    params = result.x
    return PixelLogistic(weights=params[: f * k].reshape(f, k), bias=params[f * k:],
                         mean=mean, std=std, box_sizes=tuple(int(s) for s in box_sizes))


def predict_proba(model: PixelLogistic, image) -> np.ndarray:
    """(H, W, C) image -> (H, W, K) class probabilities."""
    f = (pixel_features(image, model.box_sizes) - model.mean) / model.std
    return softmax(f @ model.weights + model.bias, axis=-1)


def predict(model: PixelLogistic, image) -> np.ndarray:
    """(H, W, C) image -> (H, W) int class map (argmax of :func:`predict_proba`)."""
    return np.argmax(predict_proba(model, image), axis=-1).astype(np.int32)

"""Preparing H&E RGB tiles: scaling to [0, 1], background masks, Reinhard stain normalisation.

Pure numpy/scipy on (H, W, 3) arrays. Colour conversions:

* HSV value and saturation (for :func:`background_mask`) follow the usual
  definition ``V = max(R, G, B)``, ``S = (max - min) / max`` (0 where ``max == 0``).
* CIE L*a*b* (for Reinhard normalisation) is computed from sRGB (IEC 61966-2-1
  transfer curve, linear sRGB -> XYZ matrix, D65 white point taken as the
  matrix's image of RGB white so white maps to a* = b* = 0 exactly). Reinhard
  et al. (2001) used their own l-alpha-beta space; we use CIE L*a*b*, as most
  histology pipelines (and Qu et al. 2019's code, through OpenCV/scikit-image) do.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from irpath.errors import ConfigError, InvalidValuesError, MissingFileError, ShapeError

#: Linear sRGB -> CIE XYZ (D65), IEC 61966-2-1.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ.sum(axis=1)  # D65 white (0.95047, 1.0, 1.08883)
_DELTA = 6.0 / 29.0


def to_float(rgb, *, float_range: float = 255.0) -> np.ndarray:
    """An image as (H, W, 3) float32 in [0, 1].

    Args:
        rgb: (H, W, 3), (H, W, 1) or (H, W) array. uint8 is divided by 255,
            uint16 by 65535; other integer and float dtypes by ``float_range``
            (255: what :func:`irpath.io.rgb.read_rgb` returns). Grey images
            become three equal channels. Values are clipped to [0, 1].
        float_range: the value that maps to 1 for non-uint8/uint16 input.

    Returns:
        (H, W, 3) float32 in [0, 1].

    Raises:
        ShapeError: not (H, W), (H, W, 1) or (H, W, 3).
        InvalidValuesError: NaN or Inf values.
    """
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ShapeError(f"an RGB image must be (H, W), (H, W, 1) or (H, W, 3), got {arr.shape}")
    if arr.dtype == np.uint8:
        scale = 255.0
    elif arr.dtype == np.uint16:
        scale = 65535.0
    else:
        scale = float(float_range)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise InvalidValuesError("RGB image contains NaN/Inf")
    return np.clip(arr.astype(np.float32) / np.float32(scale), 0.0, 1.0)


def _check_rgb01(rgb01) -> np.ndarray:
    arr = np.asarray(rgb01, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ShapeError(f"expected an (H, W, 3) image in [0, 1], got shape {arr.shape}")
    return arr


def _remove_small(mask: np.ndarray, min_size: int) -> np.ndarray:
    """``mask`` without its 8-connected components smaller than ``min_size`` pixels."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


def background_mask(rgb01, brightness: float = 0.85, saturation: float = 0.1,
                    min_size: int = 64) -> np.ndarray:
    """Slide background (glass): bright, unsaturated pixels. ``tissue = ~background``.

    A pixel is background when its HSV value ``max(R, G, B) >= brightness`` and its
    saturation ``(max - min) / max <= saturation``. H&E tissue is either dark
    (haematoxylin, purple) or coloured (eosin, pink, S ~ 0.2-0.6), glass is
    near-white (V > 0.9, S < 0.05 on most scanners); 0.85 / 0.1 leave margin
    for scanner tint and JPEG noise. The raw mask is then cleaned: a 3x3
    opening removes single bright pixels inside tissue, background blobs
    smaller than ``min_size`` pixels (small holes, e.g. narrow lumens) become
    tissue, and tissue specks smaller than ``min_size`` become background.

    Args:
        rgb01: (H, W, 3) image in [0, 1] (see :func:`to_float`).
        brightness: minimum HSV value of background, in [0, 1].
        saturation: maximum HSV saturation of background, in [0, 1].
        min_size: components (of either kind) smaller than this many pixels are
            absorbed by their surroundings; 0 or 1 disables that step.

    Returns:
        (H, W) bool, True on background.
    """
    if not (0.0 <= brightness <= 1.0 and 0.0 <= saturation <= 1.0):
        raise ConfigError(f"brightness and saturation must be in [0, 1], got {brightness}, "
                          f"{saturation}")
    arr = _check_rgb01(rgb01)
    vmax = arr.max(axis=-1)
    vmin = arr.min(axis=-1)
    sat = np.where(vmax > 0, (vmax - vmin) / np.maximum(vmax, 1e-12), 0.0)
    background = (vmax >= brightness) & (sat <= saturation)
    background = ndimage.binary_opening(background, structure=np.ones((3, 3)), border_value=1)
    if min_size > 1:
        background = _remove_small(background, min_size)  # small holes -> tissue
        background = ~_remove_small(~background, min_size)  # tissue specks -> background
    return background


def _srgb_to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c):
    c = np.maximum(c, 0.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1.0 / 2.4) - 0.055)


def rgb_to_lab(rgb01) -> np.ndarray:
    """sRGB in [0, 1] -> CIE L*a*b* (D65), float64, same shape ``(..., 3)``.

    L* is in [0, 100]; white is (100, 0, 0), sRGB red (53.24, 80.09, 67.20).
    """
    xyz = _srgb_to_linear(np.asarray(rgb01, dtype=np.float64)) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _DELTA ** 3, np.cbrt(xyz), xyz / (3 * _DELTA ** 2) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                     200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab) -> np.ndarray:
    """CIE L*a*b* (D65) -> sRGB, float64 ``(..., 3)``, not clipped (out-of-gamut values may
    leave [0, 1]; negative linear values are set to 0)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > _DELTA, f ** 3, 3 * _DELTA ** 2 * (f - 4.0 / 29.0)) * _WHITE
    return _linear_to_srgb(xyz @ _XYZ_TO_RGB.T)


def _select(lab: np.ndarray, mask) -> np.ndarray:
    """The (P, 3) Lab pixels inside ``mask`` (all pixels if None)."""
    if mask is None:
        return lab.reshape(-1, 3)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != lab.shape[:2]:
        raise ShapeError(f"mask is {mask.shape} but the image is {lab.shape[:2]}")
    if not mask.any():
        raise InvalidValuesError("Reinhard statistics: the mask selects no pixels")
    return lab[mask]


def reinhard_stats(rgb01, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation in CIE L*a*b*.

    Args:
        rgb01: (H, W, 3) image in [0, 1].
        mask: optional (H, W) bool, True on the pixels to use (e.g. tissue,
            ``~background_mask(rgb01)``).

    Returns:
        ``(mean, std)``, each (3,) float64 in (L*, a*, b*) order.
    """
    pixels = _select(rgb_to_lab(_check_rgb01(rgb01)), mask)
    return pixels.mean(axis=0), pixels.std(axis=0)


def reinhard_normalise(rgb01, target_mean, target_std, mask=None) -> np.ndarray:
    """Reinhard colour transfer: match the image's Lab mean/std to the target's.

    Each Lab channel is shifted and scaled, ``(x - mean) / std * target_std +
    target_mean``, with the source statistics taken over ``mask`` (all pixels
    if None) and the transform applied to every pixel; the result is clipped to
    [0, 1] (so statistics match exactly only for in-gamut results).

    Args:
        rgb01: (H, W, 3) image in [0, 1].
        target_mean, target_std: (3,) Lab statistics of the reference
            (:func:`reinhard_stats` or :class:`ReinhardStats`).
        mask: optional (H, W) bool of pixels used for the source statistics.

    Returns:
        (H, W, 3) float32 in [0, 1].
    """
    lab = rgb_to_lab(_check_rgb01(rgb01))
    pixels = _select(lab, mask)
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    target_mean = np.asarray(target_mean, dtype=np.float64).reshape(3)
    target_std = np.asarray(target_std, dtype=np.float64).reshape(3)
    scale = np.where(std > 1e-8, target_std / np.maximum(std, 1e-8), 1.0)
    out = (lab - mean) * scale + target_mean
    return np.clip(lab_to_rgb(out), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class ReinhardStats:
    """Reference Lab statistics for :func:`reinhard_normalise`, saved as JSON beside a model.

    Attributes:
        mean: (L*, a*, b*) means.
        std: (L*, a*, b*) standard deviations, all > 0.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self):
        mean = tuple(float(v) for v in self.mean)
        std = tuple(float(v) for v in self.std)
        if len(mean) != 3 or len(std) != 3:
            raise ConfigError(f"ReinhardStats needs 3 means and 3 stds, got {mean}, {std}")
        if not all(np.isfinite(mean + std)) or min(std) <= 0:
            raise ConfigError(f"ReinhardStats: std must be finite and > 0, got {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def from_image(cls, rgb01, mask=None) -> "ReinhardStats":
        """The statistics of a reference image (over ``mask`` if given)."""
        mean, std = reinhard_stats(rgb01, mask)
        return cls(tuple(mean), tuple(std))

    def normalise(self, rgb01, mask=None) -> np.ndarray:
        """:func:`reinhard_normalise` to these statistics."""
        return reinhard_normalise(rgb01, self.mean, self.std, mask)

    def to_json(self, path) -> None:
        """Write ``{"mean": [...], "std": [...]}`` to ``path``."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def from_json(cls, path) -> "ReinhardStats":
        """Read statistics written by :meth:`to_json`."""
        if not Path(path).is_file():
            raise MissingFileError(f"{path}: no such file")
        try:
            data = json.loads(Path(path).read_text())
            return cls(tuple(data["mean"]), tuple(data["std"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a Reinhard statistics file: {exc}") from None

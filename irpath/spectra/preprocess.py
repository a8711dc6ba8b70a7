"""Spectral preprocessing steps selectable in a model config, and their numpy twins.

The steps run in a fixed order: vector normalisation, a Savitzky-Golay derivative,
then a min-max scaling over the amide I band or the whole spectrum. Inside models
they are the fixed layers of :mod:`irpath.layers.spectral_preprocess`; here they are
plain numpy (``scipy.signal.savgol_filter(mode="interp")``), used to compute the
channel statistics on preprocessed spectra and to test the layers.

All-zero (background) spectra stay exactly 0; NaN/Inf become 0 first.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from irpath.config import check

MINMAX_MODES = ("none", "amide", "spectrum")
#: Amide I band (cm^-1) used by ``minmax="amide"``.
AMIDE_I = (1600.0, 1700.0)


@dataclasses.dataclass(frozen=True)
class PreprocessSpec:
    """Which steps run (all off by default).

    Attributes:
        vector_norm: scale each spectrum to unit L2 norm.
        sg_deriv: Savitzky-Golay derivative order, 0 (off), 1 or 2 (per channel, delta 1).
        sg_window: odd window length in channels (> sg_order).
        sg_order: polynomial order (>= sg_deriv).
        minmax: ``"none"``, ``"amide"`` (min/max over the amide I band) or ``"spectrum"``.
    """

    vector_norm: bool = False
    sg_deriv: int = 0
    sg_window: int = 9
    sg_order: int = 2
    minmax: str = "none"

    def __post_init__(self):
        check(isinstance(self.vector_norm, bool), f"vector_norm must be true/false, got {self.vector_norm!r}")
        check(self.sg_deriv in (0, 1, 2), f"sg_deriv must be 0, 1 or 2, got {self.sg_deriv}")
        check(isinstance(self.sg_window, int) and self.sg_window >= 3 and self.sg_window % 2 == 1,
              f"sg_window must be an odd integer >= 3, got {self.sg_window}")
        check(isinstance(self.sg_order, int) and self.sg_deriv <= self.sg_order < self.sg_window,
              f"sg_order must be in [sg_deriv, sg_window), got {self.sg_order}")
        check(self.minmax in MINMAX_MODES, f"minmax must be one of {MINMAX_MODES}, got {self.minmax!r}")

    @classmethod
    def from_value(cls, value) -> "PreprocessSpec":
        """From a spec, a dict (JSON) or None/{} (no preprocessing)."""
        from irpath.config import from_dict

        if isinstance(value, cls):
            return value
        return from_dict(cls, dict(value or {}), source="preprocess")

    def to_dict(self) -> dict:
        """Only the keys that differ from the defaults ({} = no preprocessing)."""
        default = PreprocessSpec()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    @property
    def is_identity(self) -> bool:
        return not self.vector_norm and self.sg_deriv == 0 and self.minmax == "none"


def band_slice(axis, band=AMIDE_I) -> tuple[int, int]:
    """``(start, stop)`` channel indices of ``axis`` inside ``band`` (cm^-1)."""
    from irpath.errors import ConfigError

    axis = np.asarray(axis, dtype=np.float64)
    lo, hi = sorted(band)
    idx = np.flatnonzero((axis >= lo) & (axis <= hi))
    if idx.size < 2:
        raise ConfigError(f"fewer than 2 channels in {lo:g}-{hi:g} cm^-1 for amide min-max")
    return int(idx[0]), int(idx[-1]) + 1


def preprocess_spectra(x: np.ndarray, spec: PreprocessSpec, axis=None) -> np.ndarray:
    """Apply ``spec`` to (..., C) spectra; returns float64 (..., C). ``axis`` is needed for
    ``minmax="amide"``."""
    from scipy.signal import savgol_filter

    x = np.where(np.isfinite(x), np.asarray(x, dtype=np.float64), 0.0)
    fg = (x != 0).any(axis=-1, keepdims=True)
    if spec.vector_norm:
        norm = np.linalg.norm(x, axis=-1, keepdims=True)
        x = x / np.where(norm > 0, norm, 1.0)
    if spec.sg_deriv:
        x = savgol_filter(x, spec.sg_window, spec.sg_order, deriv=spec.sg_deriv, mode="interp",
                          axis=-1)
    if spec.minmax != "none":
        a, b = (0, x.shape[-1]) if spec.minmax == "spectrum" else band_slice(axis)
        lo = x[..., a:b].min(axis=-1, keepdims=True)
        hi = x[..., a:b].max(axis=-1, keepdims=True)
        rng = hi - lo
        x = np.where(rng > 0, (x - lo) / np.where(rng > 0, rng, 1.0), 0.0)
    return x * fg

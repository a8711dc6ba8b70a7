"""Hard-phantom tissue spectra with a known Mie extinction, shared by the ME-EMSC and
learned-corrector tests."""

import numpy as np

from irpath.demo.synthetic import Setting, make_spot, wavenumber_axis
from irpath.spectra.emsc import mie_distortion

AXIS = wavenumber_axis()
#: The hard phantom's tissue without its (non-Mie) scatter: the clean spectra.
HARD_CLEAN = Setting(tumour_signal=0.3, noise_sd=(0.016, 0.03))


def mie_tissue(seed: int, size: int, *, every: int = 1, n: int | None = None):
    """``(clean, distorted)``: (n, C) float64 tissue spectra of one ``size`` px spot (every
    ``every``-th, the first ``n``) and the same with a Mie extinction added."""
    rng = np.random.default_rng(seed)
    spot, _, tissue = make_spot(rng, size, AXIS, True, HARD_CLEAN)
    clean = spot[tissue].astype(np.float64)[::every][:n]
    return clean, mie_distortion(clean, AXIS, rng)


def mie_like_distortion(spectra: np.ndarray, wavenumbers, rng, *, scale=(0.7, 1.3),
                        baseline=0.3, dispersive=0.25) -> np.ndarray:
    """Add a known Mie-like distortion to (N, C) absorbance spectra.

    Each spectrum is multiplied by a random factor, gets a broad sinusoidal baseline
    in wavenumber (period 1500-3000 cm^-1, random phase, amplitude up to
    ``baseline`` x its maximum) and a dispersive, derivative-shaped amide I band
    (the derivative of a Gaussian at 1655 cm^-1, amplitude up to ``dispersive`` x max).

    Returns:
        (N, C) float64 distorted spectra.
    """
    wn = np.asarray(wavenumbers, dtype=np.float64)
    spectra = np.asarray(spectra, dtype=np.float64)
    n = spectra.shape[0]
    peak = np.abs(spectra).max(axis=1, keepdims=True)
    k = rng.uniform(*scale, size=(n, 1))
    period = rng.uniform(1500.0, 3000.0, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    wave = baseline * peak * rng.uniform(0.3, 1.0, size=(n, 1)) * (
        0.5 + 0.5 * np.sin(2 * np.pi * wn / period + phase))
    x = (wn - 1655.0) / 20.0
    derivative = -x * np.exp(-0.5 * x ** 2) / np.exp(-0.5)  # peak magnitude 1
    disp = dispersive * peak * rng.uniform(-1.0, 1.0, size=(n, 1)) * derivative
    return k * spectra + wave + disp

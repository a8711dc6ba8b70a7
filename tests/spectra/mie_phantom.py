"""Hard-phantom tissue spectra with a known Mie extinction, shared by the ME-EMSC and
learned-corrector tests."""

import numpy as np

from irpath.demo.synthetic import Setting, make_spot, wavenumber_axis
from irpath.spectra.emsc import mie_extinction_distortion

AXIS = wavenumber_axis()
#: The hard phantom's tissue without its (non-Mie) scatter: the clean spectra.
HARD_CLEAN = Setting(tumour_signal=0.3, noise_sd=(0.016, 0.03))


def mie_tissue(seed: int, size: int, *, every: int = 1, n: int | None = None):
    """``(clean, distorted)``: (n, C) float64 tissue spectra of one ``size`` px spot (every
    ``every``-th, the first ``n``) and the same with a Mie extinction added."""
    rng = np.random.default_rng(seed)
    spot, _, tissue = make_spot(rng, size, AXIS, True, HARD_CLEAN)
    clean = spot[tissue].astype(np.float64)[::every][:n]
    return clean, mie_extinction_distortion(clean, AXIS, rng)

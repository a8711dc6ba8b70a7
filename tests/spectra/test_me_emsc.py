"""Batched ME-EMSC against biospectools' MeEMSC: equal results and iteration counts, a
never-converging spectrum, a failing solve, and a known Mie extinction removed."""

import numpy as np
import pytest

from irpath.spectra.emsc import CorrectionConfig, Corrector, unit_rms_error
from irpath.spectra.me_emsc import MeEmsc, MeEmscConfig
from tests.spectra.mie_phantom import AXIS, mie_tissue


@pytest.fixture(scope="module")
def cube():
    """A test-written distorted cube's tissue spectra: (clean, distorted), 8 each."""
    return mie_tissue(5, 12, every=7, n=8)


def test_equals_biospectools_with_the_same_iteration_counts(cube):
    from biospectools.preprocessing import MeEMSC

    clean, distorted = cube
    ref = clean.mean(0)
    mine = MeEmsc(ref, AXIS, MeEmscConfig(max_iter=30)).transform(distorted, batch=3)
    theirs, details = MeEMSC(ref.copy(), AXIS, max_iter=30).transform(distorted, details=True)
    span = np.ptp(theirs, axis=1)
    assert (np.abs(mine.corrected - theirs).max(axis=1) / span).max() <= 1e-3
    np.testing.assert_array_equal(mine.iterations, [len(c.scores) for c in details.criterions])
    np.testing.assert_array_equal(mine.best_iter, details.n_iterations)
    # the kept iterate's reference coefficient (the outlier rule of the learned corrector)
    np.testing.assert_allclose(mine.scale, details.scaling_coefs, rtol=1e-4)
    assert mine.iterations.max() > 3  # really iterated
    assert not mine.failed.any()


def test_never_converging_spectrum_stops_at_max_iter_with_its_best_iterate(cube):
    from biospectools.preprocessing import MeEMSC

    clean, distorted = cube
    ref = clean.mean(0)
    x = distorted[:3]
    # patience beyond max_iter: the stopping rule never fires, only max_iter ends the loop.
    mine = MeEmsc(ref, AXIS, MeEmscConfig(max_iter=4, tol=0.0, patience=50)).transform(x)
    theirs, details = MeEMSC(ref.copy(), AXIS, max_iter=4, tol=0.0, patience=50).transform(
        x, details=True)
    assert (mine.iterations == 4).all()
    np.testing.assert_array_equal(mine.best_iter, details.n_iterations)  # the best iterate kept
    np.testing.assert_allclose(mine.corrected, theirs, atol=1e-3 * np.ptp(theirs))
    # A huge tol: no iteration ever counts as better, so the first iterate is kept.
    first = MeEmsc(ref, AXIS, MeEmscConfig(max_iter=5, tol=1e9, patience=1)).transform(x)
    assert (first.best_iter == 1).all() and (first.iterations == 3).all()
    np.testing.assert_allclose(first.corrected, MeEmsc(ref, AXIS, MeEmscConfig(max_iter=1))
                               .transform(x).corrected)


def test_failing_solve_is_nan_and_reported(cube):
    clean, distorted = cube
    x = distorted[:4].copy()
    x[1, 10] = np.nan          # NaN input
    x[2] = 0.0                 # all-zero spectrum: the EMSC scale is 0, the solve fails
    corrector = Corrector(clean.mean(0), AXIS, CorrectionConfig("me-emsc"))
    out = corrector(x)
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()
    assert np.isfinite(out[[0, 3]]).all()
    assert corrector.stats["failed"] == 2 and corrector.stats["spectra"] == 4


@pytest.mark.parametrize("method", ["me-emsc", "me-emsc-fast"])
def test_known_mie_extinction_is_removed(cube, method):
    # measured: unit-RMS distance to clean 0.0171 -> me-emsc 0.0026, me-emsc-fast 0.0031
    clean, distorted = cube
    out = Corrector(clean.mean(0), AXIS, CorrectionConfig(method))(distorted)
    before, after = unit_rms_error(distorted, clean), unit_rms_error(out, clean)
    assert after < 0.3 * before, (before, after)


def test_hard_preset_scatter_is_reduced_with_a_known_reference():
    # The hard phantom's own scatter (sinusoid + dispersive amide I), clean = the same spot
    # without it. measured: median unit-RMS distance 0.0243 -> me-emsc 0.0063 (31 spectra) with the clean
    # mean as the reference (a spot's own mean carries its mean scatter and removes
    # little: benchmarks/mie_phantom.py).
    import dataclasses

    from irpath.demo.synthetic import SETTINGS, make_spot

    hard = SETTINGS["hard"]
    plain = dataclasses.replace(hard, scatter=(0.0, 0.0), dispersive=0.0)
    cube, _, tissue = make_spot(np.random.default_rng(3), 16, AXIS, True, hard)
    pure, _, _ = make_spot(np.random.default_rng(3), 16, AXIS, True, plain)
    raw, clean = cube[tissue][::4].astype(np.float64), pure[tissue][::4].astype(np.float64)
    out = Corrector(clean.mean(0), AXIS, CorrectionConfig("me-emsc"))(raw)

    def median_distance(x):
        a = x / np.linalg.norm(x, axis=1, keepdims=True)
        b = clean / np.linalg.norm(clean, axis=1, keepdims=True)
        return float(np.median(np.sqrt(np.mean((a - b) ** 2, axis=1))))

    before, after = median_distance(raw), median_distance(out)
    assert after < 0.6 * before, (before, after)

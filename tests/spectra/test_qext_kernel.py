"""The compiled Qext recurrence against biospectools' formula evaluated directly in float64."""

import numpy as np
import pytest

from irpath.spectra import qext_kernel
from irpath.spectra.me_emsc import MeEmsc
from tests.spectra.mie_phantom import AXIS, mie_tissue


def direct(npr, nkk, wn, alpha, gamma):
    """biospectools' expression, term for term, over (B, A, G, C)."""
    npr, nkk = npr[:, None, None], nkk[:, None, None]
    a, g = alpha[None, :, None, None], gamma[None, None, :, None]
    rho = a * (1 + g * nkk) * wn
    tb = npr / (1 / g + nkk)
    beta = np.arctan(tb)
    e = np.exp(-rho * tb)
    q = (2 - 4 * e * np.cos(beta) / rho * np.sin(rho - beta)
         - 4 * e * (np.cos(beta) / rho) ** 2 * np.cos(rho - 2 * beta)
         + 4 * (np.cos(beta) / rho) ** 2 * np.cos(2 * beta))
    return q.reshape(len(npr), -1, wn.size)


@pytest.mark.parametrize("radii", [None, (2.0, 2.5, 3.7, 4.1, 6.0, 7.1)])  # quadratic grid / not
def test_curves_equal_the_direct_formula(radii):
    _, distorted = mie_tissue(1, 8, every=5, n=3)
    kw = {} if radii is None else dict(radii=radii, n0s=np.linspace(1.1, 1.4, len(radii)))
    from irpath.spectra.me_emsc import MeEmscConfig

    m = MeEmsc(distorted.mean(0), AXIS, MeEmscConfig(**kw))
    assert qext_kernel.step_exponents(m._alpha)[1] is (radii is None)
    refs = np.clip(m.basic_scale(distorted), 0, None)
    npr = refs / m._wns  # no padding effect on n' itself
    nkk = np.random.default_rng(0).normal(0, 1e-7, npr.shape)
    want = direct(npr, nkk, m._wns, m._alpha, m._gamma)
    got = qext_kernel.qext_curves(npr, nkk, m._wns, m._alpha, m._gamma, None)
    np.testing.assert_allclose(got, want, atol=2e-5 * np.abs(want).max())
    # orthogonalised: every curve is orthogonal to its (unit) spectrum
    rn = refs / np.linalg.norm(refs, axis=1, keepdims=True)
    orth = qext_kernel.qext_curves(npr, nkk, m._wns, m._alpha, m._gamma, rn)
    assert np.abs(np.einsum("bkc,bc->bk", orth, rn)).max() < 1e-4 * np.abs(want).max()
    np.testing.assert_allclose(orth, want - np.einsum("bkc,bc->bk", want, rn)[..., None] * rn[:, None],
                               atol=2e-5 * np.abs(want).max())

"""The Qext curves of ME-EMSC in one compiled pass (numba), three complex exponentials
per (spectrum, gamma, wavenumber) instead of thirty transcendentals per curve point.

biospectools' curve for sphere parameter ``alpha_a``, gamma ``g`` and wavenumber ``c`` is

    Q = 2 - 4 E u sin(rho - beta) - 4 E u^2 cos(rho - 2 beta) + 4 u^2 cos(2 beta),

with ``rho = alpha_a w``, ``w = (1 + g n_kk) nu``, ``tan(beta) = n' / (1/g + n_kk)``,
``E = exp(-rho tan(beta))`` and ``u = cos(beta) / rho``. With ``zeta = w (i - tan(beta))``
and ``Y_a = exp(alpha_a zeta - i beta)``:

    E sin(rho - beta) = Im Y_a,    E cos(rho - 2 beta) = Re(Y_a exp(-i beta)).

biospectools' grid (``n0s`` and ``radii`` both linear) makes ``alpha_a = 4 pi r_a (n0_a - 1)``
quadratic in ``a``, so ``Y_a = Y_{a-1} R_a`` and ``R_{a+1} = R_a D`` with
``R_1 = exp((alpha_1 - alpha_0) zeta)`` and ``D = exp(second difference * zeta)``: only
``exp(alpha_0 zeta)``, ``R_1`` and ``D`` are evaluated (numpy's float32 SIMD exp/sin/cos,
~1e-7 relative); the recurrence and the curves run in float64. Another grid multiplies by
``exp((alpha_a - alpha_{a-1}) zeta)`` at each step instead. The kernel also orthogonalises
each curve against its spectrum (biospectools' ``_orthogonalize``) while the row is in cache.
"""

from __future__ import annotations

import numba
import numpy as np


def step_exponents(alpha: np.ndarray) -> tuple[np.ndarray, bool]:
    """The multipliers of ``zeta`` whose exponentials the kernel needs, and whether
    ``alpha`` is quadratic (three of them) or not (one per alpha)."""
    d = np.diff(alpha)
    quad = alpha.size > 2 and bool(np.allclose(np.diff(d), d[1] - d[0], rtol=1e-9, atol=0))
    if quad:
        return np.array([alpha[0], d[0], d[1] - d[0]]), True
    return np.concatenate([alpha[:1], d]), False


def qext_curves(npr: np.ndarray, nkk: np.ndarray, wn: np.ndarray, alpha: np.ndarray,
                gamma: np.ndarray, rnorm: np.ndarray | None) -> np.ndarray:
    """(B, A*G, C) float64 Qext curves (row ``a * G + g``) of (B, C) ``n'`` and ``n_kk``;
    orthogonalised against the (B, C) unit-norm spectra ``rnorm`` unless it is None."""
    xs, quad = step_exponents(alpha)
    f32 = np.float32
    # rho tan(beta) = alpha g n' nu, since w / (1/g + n_kk) = g nu: both arguments are outer products.
    xg = (xs[:, None] * gamma[None, :]).astype(f32)[None, :, :, None]        # (1, K, G, 1)
    t = xs.astype(f32)[None, :, None, None] * wn.astype(f32)                  # (1, K, 1, C)
    t = t + xg * (nkk * wn).astype(f32)[:, None, None, :]                     # (B, K, G, C) x w
    mag = np.exp(xg * (-npr * wn).astype(f32)[:, None, None, :])
    cos, sin = np.cos(t), np.sin(t)
    b, c = npr.shape[0], wn.size
    q = np.empty((b, alpha.size * gamma.size, c), np.float32)
    orth = rnorm is not None
    _kernel(q, mag, cos, sin, npr, nkk, wn, gamma, 1 / alpha,
            rnorm if orth else np.zeros((b, c)), quad, orth)
    return q


@numba.njit(cache=True, fastmath=True, nogil=True)
def _kernel(q, mag, cos, sin, npr, nkk, wn, gamma, inv_alpha, rnorm, quad, orth):  # pragma: no cover
    nb, nk, ng, nc = mag.shape
    na = inv_alpha.size
    for b in range(nb):
        yr = np.empty(nc)
        yi = np.empty(nc)
        rr = np.empty(nc)
        ri = np.empty(nc)
        dr = np.empty(nc)
        di = np.empty(nc)
        c2b = np.empty(nc)
        cbg = np.empty(nc)
        sbg = np.empty(nc)
        kg = np.empty(nc)
        row = np.empty(nc)
        for g in range(ng):
            gg = gamma[g]
            for c in range(nc):
                tb = npr[b, c] / (1 / gg + nkk[b, c])         # tan(beta)
                cbg[c] = 1 / np.sqrt(1 + tb * tb)
                sbg[c] = tb * cbg[c]
                kg[c] = 4 * cbg[c] / ((1 + gg * nkk[b, c]) * wn[c])   # 4 cos(beta) / (rho / alpha)
            m0, c0, s0 = mag[b, 0, g], cos[b, 0, g], sin[b, 0, g]
            m1, c1, s1 = mag[b, 1, g], cos[b, 1, g], sin[b, 1, g]
            for c in range(nc):
                er = m0[c] * c0[c]
                ei = m0[c] * s0[c]
                yr[c] = er * cbg[c] + ei * sbg[c]             # exp(alpha_0 zeta) exp(-i beta)
                yi[c] = ei * cbg[c] - er * sbg[c]
                rr[c] = m1[c] * c1[c]
                ri[c] = m1[c] * s1[c]
                c2b[c] = cbg[c] * cbg[c] - sbg[c] * sbg[c]
            if quad:
                m2, c2, s2 = mag[b, 2, g], cos[b, 2, g], sin[b, 2, g]
                for c in range(nc):
                    dr[c] = m2[c] * c2[c]
                    di[c] = m2[c] * s2[c]
            for a in range(na):
                if a > 0:
                    for c in range(nc):
                        xr = yr[c] * rr[c] - yi[c] * ri[c]
                        yi[c] = yr[c] * ri[c] + yi[c] * rr[c]
                        yr[c] = xr
                    if quad:
                        for c in range(nc):
                            xr = rr[c] * dr[c] - ri[c] * di[c]
                            ri[c] = rr[c] * di[c] + ri[c] * dr[c]
                            rr[c] = xr
                    elif a + 1 < na:
                        mk, ck, sk = mag[b, a + 1, g], cos[b, a + 1, g], sin[b, a + 1, g]
                        for c in range(nc):
                            rr[c] = mk[c] * ck[c]
                            ri[c] = mk[c] * sk[c]
                ia = inv_alpha[a]
                dot = 0.0
                for c in range(nc):
                    u = kg[c] * ia                            # 4 cos(beta) / rho
                    p = yr[c] * cbg[c] + yi[c] * sbg[c]       # E cos(rho - 2 beta)
                    v = 2 + 0.25 * u * u * (c2b[c] - p) - u * yi[c]
                    row[c] = v
                    dot += v * rnorm[b, c]
                if orth:
                    rb = rnorm[b]
                    for c in range(nc):
                        row[c] -= dot * rb[c]
                out = q[b, a * ng + g]
                for c in range(nc):
                    out[c] = row[c]
    return q

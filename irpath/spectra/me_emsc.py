"""Converged ME-EMSC (Solheim et al. 2019), all spectra of a block iterating together.

The algorithm is biospectools' ``MeEMSC`` step for step (same refractive-index grid
``n0s`` x ``radii``, ``h``, Kramers-Kronig by FFT (``scipy.signal.hilbert``) on the
edge-padded spectrum, Qext curves, orthogonalisation against the reference, SVD
components chosen by explained variance, EMSC solve with a constant, and the
tolerance / patience / max_iter stopping of ``TolStopCriterion``), but every step is
an array operation over the spectra still iterating:

* the Qext grid (N, n0s*radii, C) is one complex exponential per element,
  ``exp(rho (i - tan beta))``, evaluated by numexpr (multithreaded), with the
  ``beta`` terms computed once per (gamma, wavenumber);
* the SVD's right singular vectors come from the eigen-decomposition of the small
  (N, 100, 100) Gram matrix (batched ``np.linalg.eigh``), the exact counterpart of
  biospectools' randomised ``TruncatedSVD`` (which matches it to ~1e-9);
* the EMSC least squares is solved by batched normal equations;
* a spectrum leaves the batch when its stopping rule fires; its best iterate is kept.

A spectrum whose solve fails (a non-finite reference after the basic EMSC, NaN
input, a singular system) comes back as NaN with ``failed`` set, as biospectools
returns NaN for a ``LinAlgError``.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import numexpr as ne
import numpy as np
from scipy.interpolate import interp1d
from scipy.signal import hilbert

from irpath.errors import ConfigError, ShapeError
from irpath.spectra.qext_kernel import qext_curves

PAD = 200  # biospectools' edge padding before the Hilbert transform
MAX_COMPONENTS = 30
EXPLAINED = 99.96  # percent, biospectools' (and the Matlab code's) rule


@dataclasses.dataclass(frozen=True)
class MeEmscConfig:
    """ME-EMSC settings (biospectools' ``MeEMSC`` defaults).

    Attributes:
        n_components: Mie components; None = biospectools' rule (the first of at most
            30 singular values reaching 99.96 % of their summed squares, found once on
            the first iteration's reference).
        max_iter: iterations at most per spectrum (1 = the one-basis approximation).
        tol: an iteration improves on the best when its RMSE is lower by more than this.
        patience: stop after this many iterations without improvement.
        h: the Mie model's h (biospectools 0.25).
        n0s: real refractive indices (default ``linspace(1.1, 1.4, 10)``).
        radii: sphere radii in um (default ``linspace(2, 7.1, 10)``).
        positive_ref: clip negative reference values to 0 (biospectools' default).
    """

    n_components: int | None = None
    max_iter: int = 30
    tol: float = 1e-4
    patience: int = 1
    h: float = 0.25
    n0s: tuple | None = None
    radii: tuple | None = None
    positive_ref: bool = True

    def __post_init__(self):
        if self.n_components is not None and not 1 <= self.n_components <= MAX_COMPONENTS:
            raise ConfigError(f"n_components must be 1-{MAX_COMPONENTS} or None, got {self.n_components}")
        if self.max_iter < 1 or self.patience < 0 or self.tol < 0:
            raise ConfigError(f"max_iter >= 1, patience >= 0, tol >= 0 required, got "
                              f"{self.max_iter}, {self.patience}, {self.tol}")


@dataclasses.dataclass
class MeEmscResult:
    """What :meth:`MeEmsc.transform` returns for N spectra.

    Attributes:
        corrected: (N, C) float64 corrected spectra (NaN where ``failed``).
        iterations: (N,) iterations run (biospectools' ``len(criterion.scores)``).
        best_iter: (N,) 1-based iteration whose result was kept (biospectools'
            ``n_iterations`` detail); 0 where failed.
        rmse: (N,) residual RMSE of the kept iterate.
        failed: (N,) True where the solve failed.
        scale: (N,) the kept iterate's fitted reference coefficient ``b`` (the corrected
            spectrum is ``ref + residual / b``); near 0 or negative, the fit has put the
            spectrum into the Mie terms and the residual is amplified or flipped. NaN
            where failed.
    """

    corrected: np.ndarray
    iterations: np.ndarray
    best_iter: np.ndarray
    rmse: np.ndarray
    failed: np.ndarray
    scale: np.ndarray | None = None


class MeEmsc:
    """Batched ME-EMSC for one reference; equal to biospectools' ``MeEMSC``.

    Args:
        reference: (C,) reference absorbance spectrum.
        wavenumbers: (C,) axis in cm^-1 (ascending or descending, as the spectra).
        config: a :class:`MeEmscConfig`.
    """

    def __init__(self, reference, wavenumbers, config: MeEmscConfig = MeEmscConfig()):
        self.config = config
        wn = np.asarray(wavenumbers, dtype=np.float64).ravel()
        ref = np.array(reference, dtype=np.float64).ravel()
        if ref.shape != wn.shape:
            raise ShapeError(f"reference has {ref.size} channels, the axis {wn.size}")
        if config.positive_ref:
            ref[ref < 0] = 0
        self.reference = ref
        self.wavenumbers = wn
        # The basic EMSC that rescales each new reference: [ref, 1, nu, nu^2], one pseudo-inverse.
        nu = (wn - (wn.min() + wn.max()) / 2) / (np.abs(wn[0] - wn[-1]) / 2)
        self._basic = np.stack([ref, np.ones_like(ref), nu, nu ** 2], axis=1)
        self._basic_pinv = np.linalg.pinv(self._basic)
        # Mie grid (biospectools' MatlabMieCurvesGenerator), wavenumbers in m^-1.
        rs = (np.linspace(2, 7.1, 10) if config.radii is None else np.asarray(config.radii, float)) * 1e-6
        n0s = np.linspace(1.1, 1.4, 10) if config.n0s is None else np.asarray(config.n0s, float)
        self._alpha = 4 * np.pi * rs * (n0s - 1)                               # (A,)
        self._gamma = config.h * np.log(10) / (4 * np.pi * 0.5 * np.pi * rs) / (n0s - 1)  # (G,)
        self._wns = wn * 100
        f = interp1d(np.arange(wn.size), self._wns, fill_value="extrapolate")
        self._wns_ext = f(np.arange(-PAD, wn.size + PAD))
        self.n_components = config.n_components
        self._first = None  # the shared first-iteration EMSC model (every spectrum starts there)

    # -- the pieces of one iteration, each over a batch (B, C) -------------------------------

    def basic_scale(self, spectra: np.ndarray) -> np.ndarray:
        """biospectools' basic EMSC (reference + quadratic) of (B, C) spectra."""
        coefs = spectra @ self._basic_pinv.T                      # (B, 4)
        resid = spectra - coefs @ self._basic.T
        return self.reference + resid / coefs[:, :1]

    def qext(self, refs: np.ndarray, orthogonalise: bool = True) -> np.ndarray:
        """(B, A*G, C) Qext curves of (B, C) pure absorbance spectra, orthogonalised
        against each spectrum (biospectools' ``generate`` + ``_orthogonalize``)."""
        wn, wext = self._wns, self._wns_ext
        ext = np.pad(refs, ((0, 0), (PAD, PAD)), mode="edge") / wext
        nkk = hilbert(ext, axis=-1).imag[:, PAD:-PAD]
        if wext[0] < wext[1]:
            nkk = -nkk
        npr = ext[:, PAD:-PAD]
        rnorm = refs / np.linalg.norm(refs, axis=1, keepdims=True) if orthogonalise else None
        return qext_curves(npr, nkk, wn, self._alpha, self._gamma, rnorm)

    def components(self, q: np.ndarray, start: np.ndarray | None = None):
        """(B, k, C) leading right singular vectors of (B, M, C) curves, and the (B, M, p)
        Ritz basis that warm-starts the next call for the same spectra.

        From the eigenvectors of the (B, M, M) Gram matrix: all of them the first time
        (to count components by explained variance), then only the leading k by
        subspace iteration with a Rayleigh-Ritz step, checked by its residual
        (any matrix that does not meet it falls back to the full ``eigh``). ``start``,
        the previous iteration's basis of the same spectra (their curves change little
        between iterations), replaces the fixed random start and saves most steps.
        """
        gram = (q @ q.transpose(0, 2, 1)).astype(np.float64)
        if self.n_components is None:
            lam = np.linalg.eigvalsh(gram[:1])[0, ::-1]
            top = np.clip(lam[:min(MAX_COMPONENTS, q.shape[-1] - 1)], 0, None)
            explained = np.cumsum(top / top.sum()) * 100
            self.n_components = int(np.argmax(explained > EXPLAINED) + 1)
        lam, u, basis = _top_eigenvectors(gram, self.n_components, start=start)
        v = (u.transpose(0, 2, 1).astype(q.dtype) @ q).astype(np.float64)   # (B, k, C)
        return v / np.sqrt(np.clip(lam, 1e-300, None))[:, :, None], basis

    def emsc(self, spectra, refs, comps):
        """EMSC with model [ref, comps, 1]: (corrected (B, C), rmse (B,), scale (B,))."""
        model = np.concatenate([refs[:, None], comps, np.ones_like(refs)[:, None]], axis=1)
        gram = model @ model.transpose(0, 2, 1)                   # (B, P, P)
        rhs = np.einsum("bpc,bc->bp", model, spectra)
        coefs = np.linalg.solve(gram, rhs[..., None])[..., 0]
        resid = spectra - np.einsum("bp,bpc->bc", coefs, model)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero scale: failed, NaN
            corrected = refs + resid / coefs[:, :1]
        return corrected, np.sqrt(np.mean(resid ** 2, axis=1)), coefs[:, 0]

    def _iterate(self, spectra, guesses, start):
        """One ME-EMSC iteration for (B, C) spectra from their (B, C) pure guesses and
        (B, M, p) warm starts of the SVD. Returns (corrected, rmse, ok, basis, scale) with
        ok False where the step failed."""
        refs = self.basic_scale(guesses)
        ok = ~np.all(np.isnan(refs), axis=1)
        if self.config.positive_ref:
            refs[refs < 0] = 0
        ok &= np.isfinite(refs).all(axis=1) & (np.abs(refs).sum(axis=1) > 0)
        refs = np.where(ok[:, None], refs, self.reference)  # placeholders keep the batch finite
        q = self.qext(refs)
        comps, basis = self.components(q, start)
        try:
            corrected, rmse, scale = self.emsc(spectra, refs, comps)
        except np.linalg.LinAlgError:
            corrected, rmse, scale = self._emsc_one_by_one(spectra, refs, comps)
        ok &= np.isfinite(corrected).all(axis=1) & np.isfinite(rmse)
        return corrected, rmse, ok, basis, scale

    def _emsc_one_by_one(self, spectra, refs, comps):
        out = np.full_like(spectra, np.nan)
        rmse = np.full(len(spectra), np.nan)
        scale = np.full(len(spectra), np.nan)
        for i in range(len(spectra)):
            try:
                out[i:i + 1], rmse[i:i + 1], scale[i:i + 1] = self.emsc(
                    spectra[i:i + 1], refs[i:i + 1], comps[i:i + 1])
            except np.linalg.LinAlgError:
                pass
        return out, rmse, scale

    def transform(self, spectra, batch: int = 64, workers: int | None = None) -> MeEmscResult:
        """Correct (N, C) spectra.

        Args:
            spectra: (N, C) absorbance on this corrector's axis.
            batch: spectra iterating together (memory ~ batch x 100 x C x 16 bytes x 3
                per worker).
            workers: batches corrected at once in threads (the compiled kernel, BLAS
                and numpy's large-array loops release the GIL); default the CPU count
                up to 2. Results do not depend on it.

        Returns:
            a :class:`MeEmscResult`.
        """
        x = np.asarray(spectra, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.wavenumbers.size:
            raise ShapeError(f"spectra must be (N, {self.wavenumbers.size}), got {x.shape}")
        n = len(x)
        res = MeEmscResult(np.full(x.shape, np.nan), np.zeros(n, int), np.zeros(n, int),
                           np.full(n, np.nan), np.zeros(n, bool), np.full(n, np.nan))
        finite = np.isfinite(x).all(axis=1)
        res.failed[~finite] = True
        idx = np.flatnonzero(finite)
        from threadpoolctl import threadpool_limits

        if workers is None:
            workers = min(2, len(os.sched_getaffinity(0)))
        chunks = [idx[s:s + batch] for s in range(0, len(idx), batch)]
        # Small matrices: one BLAS thread per worker is faster (several contend badly).
        with threadpool_limits(1):
            if chunks:  # the shared first iteration (and the component count) before threads
                self._first_iteration(x[chunks[0][:1]])
            if workers <= 1 or len(chunks) <= 1:
                for chunk in chunks:
                    self._transform_batch(x, chunk, res)
            else:
                with ThreadPoolExecutor(workers) as pool:  # disjoint rows of res per batch
                    list(pool.map(lambda chunk: self._transform_batch(x, chunk, res), chunks))
        return res

    def _first_iteration(self, spectra):
        if self._first is None:
            ref = self.basic_scale(self.reference[None])
            if self.config.positive_ref:
                ref[ref < 0] = 0
            if not np.isfinite(ref).all():
                raise ShapeError("the reference cannot be rescaled by the basic EMSC (NaN)")
            self._first = (ref, *self.components(self.qext(ref)))
        ref, comps, basis = self._first
        b = len(spectra)
        return (*self.emsc(spectra, np.repeat(ref, b, 0), np.repeat(comps, b, 0)),
                np.repeat(basis, b, 0))

    def _transform_batch(self, x, idx, res):
        cfg = self.config
        y = x[idx]
        guess, rmse, best_scale, start = self._first_iteration(y)
        ok = np.isfinite(guess).all(axis=1) & np.isfinite(rmse)
        best, best_score = guess.copy(), rmse.copy()
        best_idx = np.zeros(len(idx), int)
        n_iter = np.ones(len(idx), int)
        active = ok.copy()
        failed = ~ok
        while True:
            # TolStopCriterion: stop at max_iter or after `patience` iterations without improvement.
            stop = (n_iter >= cfg.max_iter) | ((n_iter > cfg.patience + 1)
                                               & (n_iter - (best_idx + 1) > cfg.patience))
            active &= ~stop
            a = np.flatnonzero(active)
            if a.size == 0:
                break
            corrected, score, good, basis, scale = self._iterate(y[a], guess[a], start[a])
            bad = a[~good]
            failed[bad] = True
            active[bad] = False
            a, corrected, score, scale = a[good], corrected[good], score[good], scale[good]
            guess[a] = corrected
            start[a] = basis[good]
            better = score + cfg.tol < best_score[a]
            n_iter[a] += 1
            up = a[better]
            best_idx[up] = n_iter[up] - 1
            best_score[up] = score[better]
            best[up] = corrected[better]
            best_scale[up] = scale[better]
        best[failed] = np.nan
        res.corrected[idx] = best
        res.iterations[idx] = n_iter
        res.best_iter[idx] = np.where(failed, 0, best_idx + 1)
        res.rmse[idx] = np.where(failed, np.nan, best_score)
        res.scale[idx] = np.where(failed, np.nan, best_scale)
        res.failed[idx] = failed


def _top_eigenvectors(gram: np.ndarray, k: int, extra: int = 8, steps: int = 8,
                      rtol: float = 1e-9, start: np.ndarray | None = None):
    """Leading k eigenpairs of (B, M, M) symmetric PSD matrices, descending.

    Subspace iteration on p = k + ``extra`` vectors (from ``start`` (B, M, p), else a
    fixed random start), a Rayleigh-Ritz step, and the residual test
    ``||G u - lam u|| <= rtol * lam_1``; matrices that do not pass within ``steps`` fall
    back to ``np.linalg.eigh``.

    Returns:
        ``(lam (B, k), u (B, M, k), basis (B, M, p))``, ``basis`` the last Ritz vectors
        (the warm start of the next call).
    """
    b, m, _ = gram.shape
    p = min(m, k + extra)
    lam = np.empty((b, k))
    u = np.empty((b, m, k))
    basis = np.empty((b, m, p))
    todo = np.arange(b)
    if p < m:
        if start is None or start.shape != (b, m, p):
            y = gram @ np.random.default_rng(0).standard_normal((m, p))
        else:
            y = start
        for _ in range(steps):
            y, _r = np.linalg.qr(y)
            g = gram[todo]
            t = y.transpose(0, 2, 1) @ g @ y
            th, w = np.linalg.eigh(t)
            th, w = th[:, ::-1], w[:, :, ::-1]
            ritz = y @ w
            uu, th = ritz[:, :, :k], th[:, :k]
            resid = np.linalg.norm(g @ uu - uu * th[:, None, :], axis=1)
            done = (resid <= rtol * np.abs(th[:, :1])).all(axis=1)
            d = todo[done]
            lam[d], u[d], basis[d] = th[done], uu[done], ritz[done]
            todo, y = todo[~done], (g @ ritz)[~done]
            if todo.size == 0:
                return lam, u, basis
    th, w = np.linalg.eigh(gram[todo])
    lam[todo], u[todo] = th[:, ::-1][:, :k], w[:, :, ::-1][:, :, :k]
    basis[todo] = w[:, :, ::-1][:, :, :p]
    return lam, u, basis

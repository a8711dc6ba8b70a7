"""Scatter correction of pixel spectra: EMSC and ME-EMSC, configured and batched.

Methods (figures from ``benchmarks/correct_speed.py`` on 2 busy cores, 450 channels;
see README "Mie correction"):

``emsc``
    biospectools' EMSC with the reference and a quadratic baseline, all spectra of a
    block in one least-squares solve (~10^5 spectra/s). Removes multiplicative
    scaling and smooth baselines, not the dispersive amide I shape.
``me-emsc``
    converged ME-EMSC (Solheim et al. 2019): :mod:`irpath.spectra.me_emsc`, equal to
    biospectools' ``MeEMSC`` (``max_iter`` 30, tol 1e-4, patience 1) with every
    spectrum of a block iterating together.
``me-emsc-fast``
    ME-EMSC's first iteration only: one Mie basis from the reference, shared by all
    spectra (one solve per block). An approximation, not ME-EMSC.

The learned corrector (``irpath correct --method learned``) lives in
:mod:`irpath.train.descatter`; it is trained on spectra corrected here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from irpath.errors import ConfigError, ShapeError
from irpath.io.cube import row_blocks
from irpath.io.axis import check_axis

METHODS = ("emsc", "me-emsc", "me-emsc-fast")


@dataclasses.dataclass(frozen=True)
class CorrectionConfig:
    """How to correct.

    Attributes:
        method: ``"emsc"``, ``"me-emsc"`` or ``"me-emsc-fast"`` (= me-emsc, 1 iteration).
        iterations: ME-EMSC ``max_iter`` (biospectools' 30; 1 = the one-basis approximation).
        n_components: Mie basis size; None = biospectools' rule (99.96 % variance).
        poly_order: EMSC baseline polynomial order (``emsc`` only).
        batch: ME-EMSC spectra iterating together (cache-sized; 32 was fastest here).
    """

    method: str = "me-emsc"
    iterations: int = 30
    n_components: int | None = None
    poly_order: int = 2
    batch: int = 32

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"correction method must be one of {', '.join(METHODS)}, "
                              f"got {self.method!r}")
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        if self.n_components is not None and self.n_components < 1:
            raise ConfigError(f"n_components must be >= 1 or None, got {self.n_components}")
        if self.poly_order < 0:
            raise ConfigError(f"poly_order must be >= 0, got {self.poly_order}")
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")

    @property
    def max_iter(self) -> int:
        """ME-EMSC iterations at most (1 for ``me-emsc-fast``)."""
        return 1 if self.method == "me-emsc-fast" else self.iterations


class Corrector:
    """A correction model for one reference; call it on (N, C) spectra.

    Counts what it did in ``stats`` (spectra, iterations, failures, seconds), for
    ``correction.json``.

    Args:
        reference: (C,) reference spectrum (absorbance).
        wavenumbers: (C,) axis in cm^-1, ascending or descending.
        config: a :class:`CorrectionConfig`.
    """

    def __init__(self, reference, wavenumbers, config: CorrectionConfig = CorrectionConfig()):
        from irpath.spectra.me_emsc import MeEmsc, MeEmscConfig

        self.wavenumbers = check_axis(wavenumbers, name="correction")
        reference = np.asarray(reference, dtype=np.float64).ravel()
        if reference.shape != self.wavenumbers.shape:
            raise ShapeError(f"reference has {reference.size} channels but the axis has "
                             f"{self.wavenumbers.size}")
        if not np.isfinite(reference).all() or not np.any(reference > 0):
            raise ShapeError("reference spectrum must be finite with some positive absorbance")
        self.config = config
        self.reference = reference
        self.stats = dict(spectra=0, failed=0, iterations_sum=0, iterations_max=0, seconds=0.0)
        if config.method == "emsc":
            from biospectools.preprocessing import EMSC

            self._model = EMSC(reference, self.wavenumbers, poly_order=config.poly_order,
                               rebuild_model=False)
            return
        self._model = MeEmsc(reference, self.wavenumbers,
                             MeEmscConfig(n_components=config.n_components, max_iter=config.max_iter))

    @property
    def n_mie_components(self) -> int | None:
        return None if self.config.method == "emsc" else self._model.n_components

    def __call__(self, spectra: np.ndarray) -> np.ndarray:
        """Correct (N, C) spectra; returns (N, C) float32, NaN where a solve failed."""
        return self.correct(spectra)[0]

    def correct(self, spectra: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Correct (N, C) spectra: ``(corrected, scale)``, corrected as :meth:`__call__`
        returns it and scale the (N,) fitted reference coefficient of ME-EMSC's kept
        iterate (:class:`irpath.spectra.me_emsc.MeEmscResult`; None for ``emsc``)."""
        import time

        spectra = np.asarray(spectra, dtype=np.float64)
        if spectra.size == 0:
            return spectra.astype(np.float32), (None if self.config.method == "emsc"
                                                else np.zeros(0))
        t = time.perf_counter()
        scale = None
        if self.config.method == "emsc":
            out = self._model.transform(spectra, check_correlation=False)
            iters = np.ones(len(spectra), int)
            failed = ~np.isfinite(out).all(axis=1)
        else:
            res = self._model.transform(spectra, batch=self.config.batch)
            out, iters, failed, scale = res.corrected, res.iterations, res.failed, res.scale
        st = self.stats
        st["seconds"] += time.perf_counter() - t
        st["spectra"] += len(spectra)
        st["failed"] += int(failed.sum())
        st["iterations_sum"] += int(iters.sum())
        st["iterations_max"] = max(st["iterations_max"], int(iters.max()))
        out = np.asarray(out, dtype=np.float32)
        out[failed] = np.nan
        return out, scale


def mean_spectrum(cube: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(C,) float64 mean of the spectra where ``mask`` is True, read in row blocks."""
    total = np.zeros(cube.shape[-1], dtype=np.float64)
    count = 0
    for a, b in row_blocks(cube):
        m = mask[a:b]
        if m.any():
            block = np.asarray(cube[a:b])
            total += block[m].sum(axis=0, dtype=np.float64)
            count += int(m.sum())
    if count == 0:
        raise ShapeError("no tissue pixel to average into a reference spectrum")
    return total / count


def baseline_dispersion_distortion(spectra: np.ndarray, wavenumbers, rng, *, scale=(0.7, 1.3),
                                   baseline=0.3, dispersive=0.25) -> np.ndarray:
    """Add a known Mie-like distortion (scale, sinusoidal baseline, dispersive amide I band) to
    (N, C) absorbance spectra, for tests and benchmarks.

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


def mie_extinction_distortion(spectra: np.ndarray, wavenumbers, rng, *, scale=(0.7, 1.3),
                              strength=(0.1, 0.3), offset=0.05) -> np.ndarray:
    """Add a known Mie extinction (the ME-EMSC model's own physics) to (N, C) spectra.

    Each spectrum m becomes ``k m + c Qext(m; n0, r) + a``: Qext is the extinction
    curve of a sphere of random refractive index n0 (1.1-1.4) and radius r (2-7.1 um)
    on the spectrum's own refractive index (:meth:`MeEmsc.qext`, not orthogonalised),
    scaled to ``strength`` x the spectrum's maximum; ``a`` a random offset.

    Returns:
        (N, C) float64 distorted spectra.
    """
    from irpath.spectra.me_emsc import MeEmsc

    spectra = np.asarray(spectra, dtype=np.float64)
    peak = np.abs(spectra).max(axis=1, keepdims=True)
    out = np.empty_like(spectra)
    for i, m in enumerate(spectra):
        gen = MeEmsc(np.clip(m, 0, None), wavenumbers).qext  # positive, like ME-EMSC's guess
        q = gen(np.clip(m, 0, None)[None], orthogonalise=False)[0, rng.integers(100)]
        q = q / np.abs(q).max()
        out[i] = (rng.uniform(*scale) * m + rng.uniform(*strength) * peak[i] * q
                  + offset * peak[i] * rng.uniform(0, 1))
    return out


def unit_rms_error(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance between (N, C) spectra after scaling each to unit L2 norm."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.sqrt(np.mean((a - b) ** 2)))

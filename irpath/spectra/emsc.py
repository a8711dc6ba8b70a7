"""Scatter correction of pixel spectra with biospectools' EMSC and ME-EMSC.

Nothing here corrects spectra itself: it chooses, configures and batches
``biospectools.preprocessing.EMSC`` / ``MeEMSC``, and computes the default
reference (the mean tissue spectrum).

Methods (spectra/s measured by ``benchmarks/correct_speed.py`` on 2 busy cores,
450 channels; see README "Mie correction"):

``emsc``
    EMSC with the reference and a quadratic baseline in wavenumber, all spectra
    of a block in one least-squares solve. Fast (~10^5 spectra/s); removes
    multiplicative scaling and smooth baselines, not the dispersive amide I shape.
``me-emsc``
    ME-EMSC (Mie extinction EMSC, Solheim et al. 2019). With ``iterations=1`` (the
    default) the Mie basis is built once from the reference, so the EMSC model is
    the same for every spectrum and a block is corrected in one solve (~10^4-10^5
    spectra/s). With ``iterations > 1`` each spectrum is refined on its own
    (biospectools' loop, ~0.1-0.5 s per spectrum per process): exact, but days
    for a megapixel mosaic; use ``jobs`` processes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from irpath.errors import ConfigError, ShapeError
from irpath.io.cube import row_blocks
from irpath.io.paths import atomic_path
from irpath.spectra.axis import check_monotonic

METHODS = ("emsc", "me-emsc")


@dataclasses.dataclass(frozen=True)
class CorrectionConfig:
    """How to correct.

    Attributes:
        method: ``"emsc"`` or ``"me-emsc"``.
        iterations: ME-EMSC iterations (1 = one shared Mie basis, vectorised).
        n_components: Mie basis size; None lets biospectools choose (99.96 % variance).
        poly_order: EMSC baseline polynomial order.
    """

    method: str = "emsc"
    iterations: int = 1
    n_components: int | None = None
    poly_order: int = 2

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


class Corrector:
    """A correction model for one reference; call it on (N, C) spectra.

    Args:
        reference: (C,) reference spectrum (absorbance).
        wavenumbers: (C,) axis in cm^-1, ascending or descending.
        config: a :class:`CorrectionConfig`.
    """

    def __init__(self, reference, wavenumbers, config: CorrectionConfig = CorrectionConfig()):
        from biospectools.preprocessing import EMSC, MeEMSC

        self.wavenumbers = check_monotonic(wavenumbers, name="correction")
        reference = np.asarray(reference, dtype=np.float64).ravel()
        if reference.shape != self.wavenumbers.shape:
            raise ShapeError(f"reference has {reference.size} channels but the axis has "
                             f"{self.wavenumbers.size}")
        if not np.isfinite(reference).all() or not np.any(reference > 0):
            raise ShapeError("reference spectrum must be finite with some positive absorbance")
        self.config = config
        self.reference = reference
        if config.method == "emsc":
            self._model = EMSC(reference, self.wavenumbers, poly_order=config.poly_order,
                               rebuild_model=False)
            return
        self._me = MeEMSC(reference.copy(), self.wavenumbers, n_components=config.n_components,
                          max_iter=config.iterations)
        self._model = None
        if config.iterations == 1:
            # Exactly MeEMSC's first iteration (see MeEMSC.transform/_correct_spectrum), built
            # once: with one iteration the Mie basis depends on the reference only.
            ref = reference.copy()
            ref[ref < 0] = 0
            basic = EMSC(ref, self.wavenumbers, rebuild_model=False)
            self._model = self._me._build_emsc(ref, basic)

    @property
    def n_mie_components(self) -> int | None:
        return None if self.config.method == "emsc" else self._me.mie_decomposer.n_components

    def __call__(self, spectra: np.ndarray) -> np.ndarray:
        """Correct (N, C) spectra; returns (N, C) float32 (NaN where a solve failed)."""
        spectra = np.asarray(spectra, dtype=np.float64)
        if spectra.size == 0:
            return spectra.astype(np.float32)
        if self._model is not None:
            out = self._model.transform(spectra, check_correlation=False)
        else:
            out = self._me.transform(spectra)
        return np.asarray(out, dtype=np.float32)


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


def mie_like_distortion(spectra: np.ndarray, wavenumbers, rng, *, scale=(0.7, 1.3),
                        baseline=0.3, dispersive=0.25) -> np.ndarray:
    """Add a known Mie-like distortion to (N, C) absorbance spectra, for tests and benchmarks.

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


def unit_rms_error(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance between (N, C) spectra after scaling each to unit L2 norm."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def correct_cube(cube, out_hdr, config: CorrectionConfig = CorrectionConfig(), *, reference=None,
                 block_spectra: int = 16384, jobs: int = 1, progress: bool = True,
                 rel_threshold: float = 0.1):
    """Correct a cube's tissue spectra, streaming row blocks into an ENVI file.

    Non-tissue pixels (``irpath.spectra.tissue_mask``) are written unchanged. Memory is
    bounded by ``jobs`` blocks of ``block_spectra`` spectra plus the (H, W) tissue mask:
    the input is read memory-mapped (``read_cube(..., mmap=True)``) and the output is
    written with plain file writes, so neither stays resident.

    Args:
        cube: an :class:`irpath.io.Cube` (ideally read with ``mmap=True``) with an axis.
        out_hdr: the ENVI header to write (``.hdr``; data beside it as ``.img``, BIP float32).
        config: the :class:`CorrectionConfig`.
        reference: (C,) reference spectrum; default the cube's mean tissue spectrum.
        block_spectra: spectra per block (rows are grouped up to this many pixels).
        jobs: worker processes (> 1 helps the per-spectrum ``iterations > 1`` ME-EMSC).
        progress: show a tqdm progress bar on stderr.

    Returns:
        ``(out_hdr, reference)``.
    """
    from pathlib import Path

    from spectral.io import envi

    from irpath.spectra.mask import tissue_mask

    if cube.wavenumbers is None:
        raise ShapeError(f"{cube.path}: has no wavenumber axis; correction needs one")
    h, w, c = cube.shape
    tissue = tissue_mask(cube.data, cube.valid, rel_threshold=rel_threshold)
    if reference is None:
        reference = mean_spectrum(cube.data, tissue)
    corrector = Corrector(reference, cube.wavenumbers, config)
    out_hdr = Path(out_hdr)
    data_file = out_hdr.with_suffix(".img")
    meta = {"lines": h, "samples": w, "bands": c, "data type": 4, "interleave": "bip",
            "byte order": 0, "header offset": 0, "wavelength units": "cm-1",
            "wavelength": [f"{v:.6f}" for v in cube.wavenumbers],
            "description": f"irpath correct: {config.method} (iterations {config.iterations}) "
                           f"of {cube.path}"}
    rows = max(1, block_spectra // max(1, w))
    blocks = [(a, min(h, a + rows)) for a in range(0, h, rows)]
    pool = None
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        pool = ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(corrector,))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=h * w, unit="px", desc=f"correct {Path(cube.path).name}", leave=False)
    # Both files go to temporaries; the data is renamed into place first, then the header.
    with atomic_path(out_hdr) as hdr_tmp, atomic_path(data_file) as data_tmp:
        envi.write_envi_header(str(hdr_tmp), meta)
        _write_blocks(cube, data_tmp, blocks, tissue, corrector, jobs, bar, pool, (w, c))
    return out_hdr, reference


def _write_blocks(cube, data_file, blocks, tissue, corrector, jobs, bar, pool, wc) -> None:
    """Correct ``blocks`` of rows (in ``jobs`` processes of ``pool``) into ``data_file``."""
    from irpath.io.cube import release_pages

    h, (w, c) = cube.shape[0], wc
    try:
        with open(data_file, "wb") as f:
            f.truncate(h * w * c * 4)
            pending = []
            for a, b in blocks:
                block = np.array(cube.data[a:b], dtype=np.float32)  # a writable copy
                release_pages(cube.data)
                m = tissue[a:b]
                job = (pool.submit(_worker_correct, block[m]) if pool
                       else _Done(corrector(block[m])))
                pending.append((a, block, m, job))
                if len(pending) >= max(1, jobs):
                    _flush(f, pending.pop(0), w, c, bar)
            for item in pending:
                _flush(f, item, w, c, bar)
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()


class _Done:
    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value


def _flush(f, item, w, c, bar):
    a, block, m, job = item
    block[m] = job.result()
    f.seek(a * w * c * 4)
    f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
    if bar is not None:
        bar.update(block.shape[0] * block.shape[1])


_WORKER = {}


def _init_worker(corrector):
    _WORKER["corrector"] = corrector


def _worker_correct(spectra):
    return _WORKER["corrector"](spectra)

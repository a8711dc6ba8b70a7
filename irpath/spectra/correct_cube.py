"""Stream a cube's tissue spectra through a corrector into an ENVI file, resumably.

The tissue mask comes first (:func:`irpath.spectra.mask.tissue_mask`): only tissue
spectra are corrected, background pixels are written unchanged. Row blocks are read
from the (memory-mapped) input and written to ``<name>.img.part``; after each block a
``<name>.progress.json`` records the rows done, so a killed run resumes where it
stopped. When every row is written the per-cube report ``<name>.correction.json`` is
written, the data file renamed to ``<name>.img`` and the header written last
(temporary file + rename): a cube whose ``.hdr`` exists is whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from irpath.errors import ShapeError
from irpath.io.paths import atomic_path, atomic_write_json, environment_error

#: Pixels of failed spectra listed in the report at most.
MAX_LISTED = 100


def _digest(reference) -> str:
    return hashlib.sha1(np.asarray(reference, np.float64).tobytes()).hexdigest()[:16]


def is_complete(out_hdr) -> bool:
    """True when ``out_hdr``, its data and its ``.correction.json`` were all written."""
    out_hdr = Path(out_hdr)
    return (out_hdr.is_file() and out_hdr.with_suffix(".img").is_file()
            and out_hdr.with_suffix(".correction.json").is_file())


def correct_cube_file(cube, out_hdr, corrector, *, reference=None, block_spectra: int = 16384,
                      progress: bool = True, rel_threshold: float = 0.1, label: str | None = None):
    """Correct a cube's tissue spectra into ``out_hdr`` (ENVI, BIP float32); resumable.

    Args:
        cube: an :class:`irpath.io.Cube` with a wavenumber axis (ideally ``mmap=True``).
        out_hdr: the header to write; the data go beside it as ``.img``.
        corrector: a :class:`irpath.spectra.emsc.CorrectionConfig` (a
            :class:`~irpath.spectra.emsc.Corrector` is built for this cube's reference),
            or any callable mapping (N, C) spectra to (N, C) corrected spectra (NaN rows
            = failed), e.g. a learned corrector.
        reference: (C,) reference for a config; default the cube's mean tissue spectrum.
        block_spectra: spectra per row block (bounds memory).
        progress: tqdm progress bar on stderr.
        rel_threshold: the tissue mask's threshold.
        label: the method name for the report (default the config's method).

    Returns:
        the per-cube report (also in ``<name>.correction.json``): method, spectra,
        tissue spectra, iterations mean/max, spectra/s, failed spectra and pixels,
        the reference used; ``path`` and ``reference_spectrum`` added (not saved).
    """
    from spectral.io import envi

    from irpath.io.cube import release_pages
    from irpath.io.paths import OutputError
    from irpath.spectra.emsc import CorrectionConfig, Corrector, mean_spectrum
    from irpath.spectra.mask import tissue_mask

    if cube.wavenumbers is None:
        raise ShapeError(f"{cube.path}: has no wavenumber axis; correction needs one")
    out_hdr = Path(out_hdr)
    data_file = out_hdr.with_suffix(".img")
    report_file = out_hdr.with_suffix(".correction.json")
    inputs = {Path(cube.path).resolve(), Path(cube.path).with_suffix(".img").resolve()}
    if out_hdr.resolve() in inputs or data_file.resolve() in inputs:
        raise OutputError(f"{out_hdr}: would overwrite the input {cube.path}")
    if is_complete(out_hdr):
        report = json.loads(report_file.read_text())
        report.update(path=out_hdr, reference_spectrum=None, resumed="complete")
        return report
    h, w, c = cube.shape
    tissue = tissue_mask(cube.data, cube.valid, rel_threshold=rel_threshold)
    source = "given" if reference is not None else "mean tissue spectrum of this cube"
    if isinstance(corrector, CorrectionConfig):
        if reference is None:
            reference = mean_spectrum(cube.data, tissue)
        label = label or corrector.method
        corrector = Corrector(reference, cube.wavenumbers, corrector)
    label = label or getattr(corrector, "method", "custom")
    rows = max(1, block_spectra // max(1, w))
    key = dict(shape=[h, w, c], method=label, rows=rows,
               reference=None if reference is None else _digest(reference))
    part, state_file = Path(str(data_file) + ".part"), out_hdr.with_suffix(".progress.json")
    state = dict(key=key, rows_done=0, seconds=0.0, failed=[], n_failed=0, tissue=0,
                 iterations_sum=0, iterations_max=0)
    if part.is_file() and state_file.is_file():
        old = json.loads(state_file.read_text())
        if old.get("key") == key and part.stat().st_size == h * w * c * 4:
            state = old
    resumed_at = state["rows_done"]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=h * w, initial=resumed_at * w, unit="px",
                   desc=f"correct {Path(str(cube.path)).name} ({label})", leave=False)
    stats = getattr(corrector, "stats", None)
    try:
        with open(part, "r+b" if resumed_at else "wb") as f:
            if not resumed_at:
                f.truncate(h * w * c * 4)
            for a in range(resumed_at, h, rows):
                b = min(h, a + rows)
                block = np.array(cube.data[a:b], dtype=np.float32)  # a writable copy
                release_pages(cube.data)
                m = tissue[a:b]
                before = dict(stats) if stats is not None else None
                t = time.perf_counter()
                out = np.asarray(corrector(block[m]), dtype=np.float32)
                state["seconds"] += time.perf_counter() - t
                bad = ~np.isfinite(out).all(axis=1)
                block[m] = out
                f.seek(a * w * c * 4)
                f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
                f.flush()
                ys, xs = np.nonzero(m)
                state["n_failed"] += int(bad.sum())
                room = MAX_LISTED - len(state["failed"])
                state["failed"] += [[int(y) + a, int(x)] for y, x in zip(ys[bad], xs[bad])][:max(0, room)]
                state["tissue"] += int(m.sum())
                if stats is not None:
                    state["iterations_sum"] += stats["iterations_sum"] - before["iterations_sum"]
                    state["iterations_max"] = max(state["iterations_max"], stats["iterations_max"])
                state["rows_done"] = b
                atomic_write_json(state_file, state, indent=1)
                if bar is not None:
                    bar.update((b - a) * w)
    except OSError as exc:  # a full disk, a quota, a read-only folder: one line, no partial cube
        err = environment_error(exc, data_file)
        if err is None:
            raise
        for f in (part, state_file):
            f.unlink(missing_ok=True)
        raise err from None
    finally:
        if bar is not None:
            bar.close()
    n = state["tissue"]
    report = dict(
        input=str(cube.path), method=label, shape=[h, w, c], tissue_spectra=n,
        iterations_mean=round(state["iterations_sum"] / n, 3) if n and stats else None,
        iterations_max=state["iterations_max"] if stats else None,
        spectra_per_s=round(n / state["seconds"], 1) if state["seconds"] > 0 else None,
        correct_seconds=round(state["seconds"], 2), failed_spectra=state["n_failed"],
        failed_pixels=state["failed"], resumed_at_row=resumed_at or None,
        reference=source if isinstance(corrector, Corrector) else getattr(corrector, "reference_source", source),
        n_mie_components=getattr(corrector, "n_mie_components", None))
    try:
        atomic_write_json(report_file, report, indent=1)
    except OSError as exc:
        err = environment_error(exc, report_file)
        if err is None:
            raise
        raise err from None
    os.replace(part, data_file)
    meta = {"lines": h, "samples": w, "bands": c, "data type": 4, "interleave": "bip",
            "byte order": 0, "header offset": 0, "wavelength units": "cm-1",
            "wavelength": [f"{v:.6f}" for v in cube.wavenumbers],
            "description": f"irpath correct: {label} of {cube.path}"}
    with atomic_path(out_hdr) as tmp_hdr:
        envi.write_envi_header(str(tmp_hdr), meta)
    state_file.unlink(missing_ok=True)
    report.update(path=out_hdr, reference_spectrum=reference)
    return report


def sample_tissue(cubes, n: int, rng, *, rel_threshold: float = 0.1) -> list[np.ndarray]:
    """Up to ``n`` tissue spectra drawn without replacement, stratified over cubes.

    Args:
        cubes: :class:`irpath.io.Cube` objects (memory-mapped is fine: only the drawn
            pixels are read).
        n: spectra in all (an equal share per cube, the remainder to the first ones;
            a cube with fewer tissue pixels gives them all).
        rng: a numpy Generator.

    Returns:
        one (N_i, C) float64 array per cube.
    """
    from irpath.io.cube import row_blocks
    from irpath.spectra.mask import tissue_mask

    share = [n // len(cubes) + (i < n % len(cubes)) for i in range(len(cubes))]
    out = []
    for cube, k in zip(cubes, share):
        ys, xs = np.nonzero(tissue_mask(cube.data, cube.valid, rel_threshold=rel_threshold))
        pick = np.sort(rng.choice(len(ys), size=min(k, len(ys)), replace=False))
        ys, xs = ys[pick], xs[pick]
        # Gathered block by block, each block's pages released: one gather over a memory
        # map kept most of the file resident (a 1.9 GB mosaic cost 1.75 GB of RSS).
        parts = []
        for a, b in row_blocks(cube.data):
            sel = (ys >= a) & (ys < b)
            parts.append(np.asarray(cube.data[ys[sel], xs[sel]], dtype=np.float64))
        out.append(np.concatenate(parts) if parts else np.empty((0, cube.shape[-1])))
    return out

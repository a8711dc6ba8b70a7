"""Mie correction: spectra/s and error against converged ME-EMSC of every method, in one
run on the same spectra, then the wall time and peak RSS of a SIZE x SIZE x 450 mosaic
through ``irpath correct`` with ``learned`` and with ``me-emsc``.

The spectra: clean hard-phantom tissue spectra (:mod:`irpath.demo.synthetic`, the
"hard" setting without its scatter) with a known Mie extinction added
(:func:`irpath.spectra.emsc.mie_extinction_distortion`), so the distance to the clean spectra
(unit-norm RMS) is printed beside each method's error against converged ME-EMSC
(``rel_rmse`` = ||x - me_emsc|| / ||me_emsc|| on the spectra both ran on).

    python benchmarks/correct_speed.py                      # --size 256
    python benchmarks/correct_speed.py --size 1024 --me-rows 2

``me-emsc`` on the mosaic runs on its first ``--me-rows`` rows (a crop written as its
own cube) and the full-mosaic time is extrapolated from its rate; both are printed.
Prints figures; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def spectra(n: int, seed: int = 0):
    """(clean, distorted) (n, 450) float64 hard-phantom tissue spectra with Mie extinction."""
    from irpath.demo.synthetic import Setting, make_spot, wavenumber_axis
    from irpath.spectra.emsc import mie_extinction_distortion

    rng = np.random.default_rng(seed)
    axis = wavenumber_axis()
    clean_setting = Setting(tumour_signal=0.3, noise_sd=(0.016, 0.03))
    pure = []
    while sum(len(p) for p in pure) < n:
        cube, _, tissue = make_spot(rng, 48, axis, bool(len(pure) % 2), clean_setting)
        pure.append(cube[tissue].astype(np.float64))
    pure = np.concatenate(pure)
    pure = pure[rng.permutation(len(pure))[:n]]
    return axis, pure, mie_extinction_distortion(pure, axis, rng)


def rel(a, b, keep=None):
    """||a - b|| / ||b|| over the rows finite in both (and in ``keep``)."""
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    if keep is not None:
        ok &= keep[:len(ok)]
    return float(np.linalg.norm(a[ok] - b[ok]) / np.linalg.norm(b[ok]))


def speed_table(args) -> list[dict]:
    from biospectools.preprocessing import MeEMSC

    from irpath.spectra.emsc import CorrectionConfig, Corrector, unit_rms_error
    from irpath.train.descatter import DescatterConfig, LearnedCorrector, fit_descatter, outlier_rows

    axis, pure, dist = spectra(max(args.spectra, args.me_spectra))
    ref = pure.mean(0)
    n_me, n_slow = args.me_spectra, args.slow_spectra
    rows = []

    def row(method, out, count, seconds, **extra):
        r = dict(method=method, spectra=count, spectra_per_s=round(count / seconds, 1),
                 rel_rmse_vs_me_emsc=round(rel(out[:n_me], me[:len(out[:n_me])], usual), 6),
                 to_clean_before=round(unit_rms_error(dist[:count], pure[:count]), 5),
                 to_clean_after=round(unit_rms_error(out, pure[:count]), 5), **extra)
        rows.append(r)
        print(json.dumps(r), flush=True)

    c = Corrector(ref, axis, CorrectionConfig("me-emsc"))
    t = time.perf_counter()
    me, scale = c.correct(dist[:n_me])
    me = me.astype(np.float64)
    me_s = time.perf_counter() - t
    st = c.stats
    # ME-EMSC blows a few spectra up or flips them (division by a near-zero or negative
    # scale): they would dominate every norm, so the errors against it leave them out
    # (the learned corrector's rule).
    usual = ~outlier_rows(dist[:n_me], me, scale=scale)
    np.random.seed(0)  # biospectools' TruncatedSVD draws from numpy's global generator
    t = time.perf_counter()
    bio, details = MeEMSC(ref.copy(), axis, max_iter=30).transform(dist[:n_slow], details=True)
    bio_s = time.perf_counter() - t
    same_iters = bool((np.array([len(k.scores) for k in details.criterions])
                       == Corrector(ref, axis, CorrectionConfig("me-emsc"))._model
                       .transform(dist[:n_slow]).iterations).all())
    span = np.ptp(bio, axis=1)
    row("me-emsc (batched)", me, n_me, me_s, iterations_mean=round(st["iterations_sum"] / n_me, 2),
        iterations_max=st["iterations_max"], failed=st["failed"],
        outliers_left_out_of_errors=int((~usual).sum()))
    row("biospectools MeEMSC loop", bio, n_slow, bio_s,
        max_diff_of_range_vs_batched=float((np.abs(me[:n_slow] - bio).max(1) / span).max()),
        same_iteration_counts=same_iters)
    print(json.dumps({"speedup_batched_vs_biospectools": round((n_me / me_s) / (n_slow / bio_s), 1)}),
          flush=True)
    for method in ("emsc", "me-emsc-fast"):
        c = Corrector(ref, axis, CorrectionConfig(method))
        t = time.perf_counter()
        out = c(dist[:args.spectra])
        row(method, out, args.spectra, time.perf_counter() - t)
    n_train = int(0.8 * n_me)
    model, rep = fit_descatter(dist[:n_train], me[:n_train],
                               DescatterConfig(samples=n_train, epochs=args.epochs),
                               scale=scale[:n_train])
    learned = LearnedCorrector(model, "benchmark")
    learned(dist[:64])  # trace once
    t = time.perf_counter()
    out = learned(dist[:args.spectra])
    secs = time.perf_counter() - t
    held = slice(n_train, n_me)
    row("learned (apply)", out, args.spectra, secs, train_seconds=rep["train_seconds"],
        epochs=rep["epochs"], held_out_vs_me_emsc=rep["held_out_errors"],
        held_out_to_clean=round(unit_rms_error(out[held], pure[held]), 5),
        dropped_outliers=rep["dropped_outliers"])
    return rows


def write_mosaic(path: Path, size: int, rows: int | None = None) -> None:
    """A SIZE x SIZE x 450 ENVI mosaic of 64 x 64 hard-phantom spots with Mie extinction;
    with ``rows``, a ROWS x SIZE crop through the middle of a row of spots."""
    import spectral.io.envi as envi

    from irpath.demo.synthetic import Setting, make_spot, wavenumber_axis
    from irpath.spectra.emsc import mie_extinction_distortion

    axis = wavenumber_axis()
    rng = np.random.default_rng(1)
    tiles = []
    for i in range(8):
        cube, _, tissue = make_spot(rng, 64, axis, bool(i % 2), Setting(tumour_signal=0.3,
                                                                         noise_sd=(0.016, 0.03)))
        cube[tissue] = mie_extinction_distortion(cube[tissue], axis, rng)
        tiles.append(cube)
    lines = rows or size
    img = envi.create_image(str(path), {"lines": lines, "samples": size, "bands": 450, "data type": 4,
                                        "interleave": "bip", "byte order": 0,
                                        "wavelength": list(axis), "wavelength units": "cm-1"},
                            ext=".img", force=True)
    mm = img.open_memmap(writable=True)
    for a in range(0, lines, 64):
        band = np.concatenate([tiles[rng.integers(8)] for _ in range(size // 64)], axis=1)
        mm[a:a + 64] = band[:min(64, lines - a)] if rows is None else band[32:32 + rows]
    mm.flush()
    del mm


def run_cli(argv: list[str]) -> dict:
    """``irpath correct`` in a fresh process: wall time and peak RSS (its own)."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: the CLI alone, so ru_maxrss of the child is its peak
        os.execv(sys.executable, [sys.executable, "-m", "irpath", *argv])
    _, status, usage = os.wait4(pid, 0)
    return dict(exit=os.waitstatus_to_exitcode(status), wall_s=round(time.perf_counter() - t, 1),
                peak_rss_mb=round(usage.ru_maxrss / 1024))


def mosaic(args) -> None:
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        if args.skip_learned:
            return me_crop(args, tmp)
        write_mosaic(tmp / "mosaic.hdr", args.size)
        print(json.dumps({"mosaic": args.size, "written_s": round(time.perf_counter() - t, 1)}), flush=True)
        r = run_cli(["correct", "--input", str(tmp / "mosaic.hdr"), "--out", str(tmp / "learned"),
                     "--method", "learned", "--samples", str(args.samples), "--epochs", str(args.epochs),
                     "--no-progress"])
        rec = json.loads((tmp / "learned" / "correction.json").read_text())
        print(json.dumps(dict(mosaic=f"{args.size}x{args.size}x450", method="learned (training included)",
                              **r, apply_spectra_per_s=rec["cubes"]["mosaic"]["spectra_per_s"],
                              train_seconds=rec["learned"]["train_seconds"],
                              me_emsc_seconds=rec["learned"]["me_emsc_seconds"],
                              held_out=rec["learned"]["held_out_errors"])), flush=True)
        me_crop(args, tmp)


def me_crop(args, tmp: Path) -> None:
    """Converged me-emsc on a ROWS x SIZE crop; the full mosaic's time extrapolated."""
    write_mosaic(tmp / "crop.hdr", args.size, rows=args.me_rows)
    r = run_cli(["correct", "--input", str(tmp / "crop.hdr"), "--out", str(tmp / "me"),
                 "--no-progress"])
    rec = json.loads((tmp / "me" / "correction.json").read_text())["cubes"]["crop"]
    rate = rec["spectra_per_s"]
    print(json.dumps(dict(mosaic=f"{args.me_rows}x{args.size}x450 crop", method="me-emsc", **r,
                          spectra_per_s=rate, iterations_mean=rec["iterations_mean"],
                          extrapolated_full_mosaic_h=round(rec["tissue_spectra"] / args.me_rows
                                                           * args.size / rate / 3600, 1))), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spectra", type=int, default=20000, help="spectra for emsc / fast / learned apply")
    p.add_argument("--me-spectra", type=int, default=400, help="spectra for batched me-emsc")
    p.add_argument("--slow-spectra", type=int, default=20, help="spectra for biospectools' loop")
    p.add_argument("--epochs", type=int, default=150, help="learned: epochs at most")
    p.add_argument("--samples", type=int, default=5000, help="mosaic learned: training samples")
    p.add_argument("--size", type=int, default=256, help="mosaic side (0 = no mosaic)")
    p.add_argument("--me-rows", type=int, default=2, help="mosaic rows for me-emsc")
    p.add_argument("--tmp", default=None, help="folder for the mosaic (needs SIZE^2 x 3.6 KB)")
    p.add_argument("--skip-table", action="store_true")
    p.add_argument("--skip-learned", action="store_true", help="mosaic: me-emsc crop only")
    args = p.parse_args(argv)
    if not args.skip_table:
        speed_table(args)
    if args.size:
        mosaic(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

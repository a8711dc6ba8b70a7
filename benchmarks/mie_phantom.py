"""Does Mie correction work? Distance to the clean spectra before and after each method,
on hard-phantom spots whose distortion is known, in one run.

Two distortions of the same clean spectra (:mod:`irpath.demo.synthetic`, "hard" setting):

* ``hard-scatter``: the hard preset exactly as ``make_tma(setting="hard")`` writes it
  (a broad sinusoid and a dispersive amide I term, varying within the spot); the clean
  spectra are the same spots rendered from the same random state with the scatter
  switched off (everything else, noise included, is identical);
* ``mie-extinction``: the clean spectra with a physical Mie extinction added
  (:func:`irpath.spectra.emsc.mie_extinction_distortion`: scale, Qext of a random
  sphere, offset).

For each distortion, spots are split into training and test spots, and two references
are tried: ``spot-mean``, each spot's own mean tissue spectrum (what ``irpath correct``
does per cube by default; it carries the spot's mean distortion), and ``clean-mean``, the
training spots' mean clean spectrum (a known tissue reference, as ``irpath correct
--reference FILE`` takes). ``emsc`` and converged ``me-emsc`` correct every spot;
``learned`` is trained on the training spots' ME-EMSC output with one reference for the
study (spot-mean: the mean of the training spectra, as ``irpath correct --method
learned`` does; clean-mean: the known one) by :func:`irpath.train.descatter.fit_descatter`
(its own 20 % held-out split) and applied to the test spots. Every distance is on the
test spots.

Distance to clean: ``unit_rms`` = RMS over spectra and channels after scaling each
spectrum to unit L2 norm (:func:`irpath.spectra.emsc.unit_rms_error`; EMSC-type
methods divide by a fitted scale, so only the shape can be compared), and its median
per spectrum. The learned corrector's error against ME-EMSC is printed as
``correction.json`` reports it (``held_out_errors``, relative to the ME-EMSC
target) and again on the test spots.

    python benchmarks/mie_phantom.py --out /tmp/mie_phantom      # JSON + PNG there

Prints figures; never passes or fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np


def spots(n: int, size: int, per_spot: int, seed: int):
    """(clean, hard-scatter, mie-extinction, spot id) tissue spectra of ``n`` hard spots,
    each (M, C) float64 (``per_spot`` pixels at most per spot, drawn at random)."""
    from irpath.demo.synthetic import SETTINGS, make_spot, wavenumber_axis
    from irpath.spectra.emsc import mie_extinction_distortion

    axis = wavenumber_axis()
    hard = SETTINGS["hard"]
    no_scatter = dataclasses.replace(hard, scatter=(0.0, 0.0), dispersive=0.0)
    clean, scatter, mie, ids = [], [], [], []
    for i in range(n):
        cube, _, tissue = make_spot(np.random.default_rng([seed, i]), size, axis, bool(i % 2), hard)
        pure, _, same = make_spot(np.random.default_rng([seed, i]), size, axis, bool(i % 2), no_scatter)
        assert (same == tissue).all()
        rng = np.random.default_rng([seed, i, 7])
        pick = np.sort(rng.permutation(int(tissue.sum()))[:per_spot])
        c = pure[tissue][pick].astype(np.float64)
        clean.append(c)
        scatter.append(cube[tissue][pick].astype(np.float64))
        mie.append(mie_extinction_distortion(c, axis, rng))
        ids.append(np.full(len(c), i))
    return axis, np.concatenate(clean), {"hard-scatter": np.concatenate(scatter),
                                         "mie-extinction": np.concatenate(mie)}, np.concatenate(ids)


def distance(x, clean) -> dict:
    """Unit-norm RMS distance to ``clean`` over the finite rows, and its median per spectrum."""
    from irpath.spectra.emsc import unit_rms_error

    ok = np.isfinite(x).all(1)
    a = x[ok] / np.linalg.norm(x[ok], axis=1, keepdims=True)
    b = clean[ok] / np.linalg.norm(clean[ok], axis=1, keepdims=True)
    per = np.sqrt(np.mean((a - b) ** 2, axis=1))
    return dict(unit_rms=round(unit_rms_error(x[ok], clean[ok]), 5), median=round(float(np.median(per)), 5),
                finite=int(ok.sum()), spectra=len(x))


def per_spot(method: str, raw, ids, axis, reference=None) -> tuple[np.ndarray, float, np.ndarray]:
    """Each spot corrected with ``reference`` (default: the spot's own mean spectrum,
    what ``irpath correct`` does per cube); (out, seconds, ME-EMSC's scale per spectrum
    (NaN for emsc))."""
    from irpath.spectra.emsc import CorrectionConfig, Corrector

    out = np.empty_like(raw)
    scale = np.full(len(raw), np.nan)
    t = time.perf_counter()
    for i in np.unique(ids):
        sel = ids == i
        ref = raw[sel].mean(0) if reference is None else reference
        out[sel], b = Corrector(ref, axis, CorrectionConfig(method)).correct(raw[sel])
        if b is not None:
            scale[sel] = b
    return out, time.perf_counter() - t, scale


def run(name: str, reference: str, raw, clean, ids, axis, args) -> dict:
    """One distortion with one reference: the spot's mean (``spot-mean``, the default of
    ``irpath correct``) or the training spots' mean clean spectrum (``clean-mean``, a
    known tissue reference given as ``irpath correct --reference``)."""
    from irpath.train.descatter import (DescatterConfig, LearnedCorrector, errors, fit_descatter,
                                        outlier_rows)

    test = ids >= args.spots - args.test_spots
    ref = None if reference == "spot-mean" else clean[~test].mean(0)
    res = dict(distortion=name, reference=reference, train_spectra=int((~test).sum()),
               test_spectra=int(test.sum()), distance={"before": distance(raw[test], clean[test])},
               seconds={})
    outs, scales = {}, {}
    for method in ("emsc", "me-emsc"):
        outs[method], res["seconds"][method], scales[method] = per_spot(method, raw, ids, axis, ref)
        res["distance"][method] = distance(outs[method][test], clean[test])
        print(f"  {name}, {reference}: {method} done ({res['seconds'][method]:.0f} s)", flush=True)
    # The learned corrector's targets: converged ME-EMSC with one reference for the study,
    # as `irpath correct --method learned` makes them (spot-mean: the mean of the training
    # spectra, its default; clean-mean: the known reference).
    me, scale = outs["me-emsc"], scales["me-emsc"]
    if ref is None:
        me, res["seconds"]["me-emsc (study reference, learned's targets)"], scale = per_spot(
            "me-emsc", raw, ids, axis, raw[~test].mean(0))
    model, rep = fit_descatter(raw[~test], me[~test], DescatterConfig(samples=int((~test).sum()),
                                                                      epochs=args.epochs),
                               scale=scale[~test])
    learned = LearnedCorrector(model, "benchmark")(raw[test])
    outs["learned"] = np.full_like(raw, np.nan)
    outs["learned"][test] = learned
    res["distance"]["learned"] = distance(learned, clean[test])
    keep = ~outlier_rows(raw[test], me[test], scale=scale[test]) & np.isfinite(me[test]).all(1)
    res["learned"] = dict(held_out_errors=rep["held_out_errors"], train_errors=rep["train_errors"],
                          held_out_errors_all=rep["held_out_errors_all"], held_out=rep["held_out"],
                          held_out_outliers=rep["held_out_outliers"],
                          me_emsc_scale_not_positive=int((~(scale[~test] > 0)).sum()),
                          epochs=rep["epochs"], train_seconds=rep["train_seconds"],
                          dropped_outliers=rep["dropped_outliers"], dropped_failed=rep["dropped_failed"],
                          test_spots_errors_vs_me_emsc=errors(learned[keep], me[test][keep], raw[test][keep]),
                          test_spots_outliers=int((~keep).sum()), outlier_rule=rep["outlier_rule"])
    res["_outs"] = outs
    return res


def figure(results, clean, raws, ids, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from irpath.demo.synthetic import wavenumber_axis

    axis = wavenumber_axis()
    methods = ("before", "emsc", "me-emsc", "learned")
    ncols = (2 + len(results)) // 2
    fig, axes = plt.subplots(2, ncols, figsize=(5.5 * ncols, 8), squeeze=False)
    axes = axes.ravel()
    width = 0.8 / len(results)
    for k, r in enumerate(results):
        vals = [r["distance"][m]["unit_rms"] for m in methods]
        axes[0].bar(np.arange(len(methods)) + k * width, vals, width,
                    label=f"{r['distortion']}, {r['reference']}")
    axes[0].set_xticks(np.arange(len(methods)) + width * (len(results) - 1) / 2, methods)
    axes[0].set_ylabel("unit-norm RMS distance to clean (test spots)")
    axes[0].legend(fontsize=8)
    test = np.nonzero(ids >= args.spots - args.test_spots)[0]
    j = test[len(test) // 2]
    for ax in axes[1 + len(results):]:
        ax.axis("off")
    for ax, r in zip(axes[1:], results):
        unit = lambda s: s / np.linalg.norm(s)  # noqa: E731 - shapes, as the distance compares them
        ax.plot(axis, unit(clean[j]), "k", lw=2, label="clean")
        ax.plot(axis, unit(raws[r["distortion"]][j]), color="0.6", label="distorted")
        for m, colour in (("me-emsc", "C0"), ("learned", "C3")):
            ax.plot(axis, unit(r["_outs"][m][j]), color=colour, lw=1, label=m)
        ax.invert_xaxis()
        ax.set_xlabel("wavenumber (cm$^{-1}$)")
        ax.set_title(f"{r['distortion']}, reference {r['reference']}", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".partial.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for mie_phantom.json and mie_phantom.png")
    p.add_argument("--spots", type=int, default=10, help="hard-phantom spots in all")
    p.add_argument("--test-spots", type=int, default=2, help="of them, held out for every distance")
    p.add_argument("--size", type=int, default=48, help="spot side in pixels")
    p.add_argument("--per-spot", type=int, default=400, help="tissue spectra per spot at most")
    p.add_argument("--epochs", type=int, default=150, help="learned: epochs at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--distortion", nargs="+", default=["hard-scatter", "mie-extinction"],
                   choices=["hard-scatter", "mie-extinction"])
    p.add_argument("--reference", nargs="+", default=["spot-mean", "clean-mean"],
                   choices=["spot-mean", "clean-mean"],
                   help="spot-mean: each spot's mean (irpath correct's default); clean-mean: the "
                        "training spots' mean clean spectrum (a known reference, --reference FILE)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    axis, clean, raws, ids = spots(args.spots, args.size, args.per_spot, args.seed)
    print(f"{args.spots} hard spots of {args.size} px, {len(clean)} tissue spectra "
          f"({args.test_spots} test spots)", flush=True)
    results = []
    for name, reference in itertools.product(args.distortion, args.reference):
        r = run(name, reference, raws[name], clean, ids, axis, args)
        results.append(r)
        print(f"{name}, reference {reference}: unit-norm RMS distance to clean on "
              f"{r['test_spectra']} test spectra (median per spectrum)", flush=True)
        for m, d in r["distance"].items():
            extra = f"  {r['seconds'][m]:.0f} s" if m in r["seconds"] else ""
            print(f"  {m:<8} {d['unit_rms']:.5f} ({d['median']:.5f}){extra}", flush=True)
        le = r["learned"]
        print(f"  learned vs ME-EMSC: held-out split rel_rmse {100 * le['held_out_errors']['rel_rmse']:.2f} % "
              f"(train {100 * le['train_errors']['rel_rmse']:.2f} %, range_rmse "
              f"{100 * le['held_out_errors']['range_rmse']:.2f} %), test spots rel_rmse "
              f"{100 * le['test_spots_errors_vs_me_emsc']['rel_rmse']:.2f} % "
              f"({le['test_spots_outliers']} outliers left out); "
              f"{le['epochs']} epochs, {le['dropped_outliers']} outliers dropped (ME-EMSC scale <= 0: "
              f"{le['me_emsc_scale_not_positive']} of {r['train_spectra']})", flush=True)
    figure(results, clean, raws, ids, args, out / "mie_phantom.png")
    doc = dict(args=vars(args), distance_definition="unit-norm RMS (irpath.spectra.emsc.unit_rms_error) "
               "on the test spots; median = median per spectrum",
               results=[{k: v for k, v in r.items() if k != "_outs"} for r in results])
    tmp = out / "mie_phantom.partial.json"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out / "mie_phantom.json")
    print(f"wrote {out / 'mie_phantom.json'} and {out / 'mie_phantom.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

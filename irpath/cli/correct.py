"""``irpath correct``: Mie / scatter correction of IR cubes with biospectools (EMSC, ME-EMSC)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

HELP = """\
Correct the Mie scattering of IR cubes before training or prediction and write
each corrected cube as ENVI (DIR/<name>.hdr + .img, BIP float32, with its
wavenumber axis). Only tissue pixels are corrected; background is copied. A
manifest .csv input is rewritten to DIR/<manifest name> pointing at the corrected
cubes (mask and tissue columns keep pointing at the original files).
DIR/correction.json records, per cube: method, iterations per spectrum
(mean/max), spectra/s, failed spectra (written as NaN and listed) and the
reference used; for --method learned also the corrector's held-out error
against converged ME-EMSC.

Nothing is overwritten: before any work the command refuses, naming both files,
an output that would replace an input or a file it did not write itself (e.g.
--out the input's folder), and outputs larger than the free space. Each file is
written to a temporary and renamed when complete; re-running over its own
outputs is fine.

Methods (2 busy cores, 450 channels; benchmarks/correct_speed.py):
  me-emsc       (default) converged ME-EMSC (Solheim et al. 2019), equal to
                biospectools' MeEMSC (max_iter 30, tol 1e-4, patience 1; max
                difference ~1e-6 of a spectrum's range, same iteration counts),
                all spectra of a block iterating together: 10-60 spectra/s,
                i.e. 5-30 hours for a 1024 x 1024 mosaic.
  learned       sample --samples tissue spectra over all inputs, correct them with
                converged ME-EMSC, train a small 1-D conv network on them (held-out
                error reported), apply it to every pixel (~4x10^3 spectra/s on 2 busy
                cores): a 1024 x 1024 mosaic in 17 min. Saved as DIR/corrector.keras;
                --corrector FILE reuses one on more cubes of the study.
  me-emsc-fast  ME-EMSC's first iteration only (one Mie basis from the reference):
                fast, but an approximation, not converged ME-EMSC.
  emsc          reference + quadratic baseline, one solve per block (~10^5
                spectra/s); no Mie model.

The reference is a spectrum file (--reference: .csv with two columns
wavenumber,absorbance, or .npy with shape (C,) on the cube's axis, or (2, C) /
(C, 2) with the axis) interpolated onto each cube's axis; by default each cube's
own mean tissue spectrum (learned: the mean of the sampled spectra). Cubes are
read memory-mapped and corrected block by block (--block spectra at a time).
A killed run re-run with the same arguments finishes the cubes not yet complete,
each from its last written block; a cube's .hdr appears only when it is whole.

examples:
  irpath correct --input spots/*.hdr --out corrected
  irpath correct --input train.csv val.csv test.csv --out corrected --method learned
  irpath correct --input more/*.hdr --out corrected2 --corrector corrected/corrector.keras
"""


def add_parser(sub):
    from irpath.spectra.emsc import METHODS

    p = sub.add_parser("correct", help="Mie correction (ME-EMSC, learned, EMSC) of IR cubes",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, nargs="+", metavar="FILE",
                   help="cube files (.hdr .h5 .npy .dmt .seq .0 ...) or manifest .csv files")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--method", choices=METHODS + ("learned",), default=None,
                   help="default: me-emsc (learned when --corrector is given)")
    p.add_argument("--reference", metavar="FILE", default=None,
                   help="reference spectrum (.csv wavenumber,absorbance or .npy); "
                        "default: each cube's mean tissue spectrum")
    p.add_argument("--iterations", type=int, default=30,
                   help="ME-EMSC max_iter (default 30, biospectools'; 1 = me-emsc-fast)")
    p.add_argument("--components", type=int, default=None,
                   help="ME-EMSC Mie components (default: biospectools' 99.96%% variance rule)")
    p.add_argument("--block", type=int, default=16384, metavar="SPECTRA",
                   help="spectra per block (default 16384, ~30 MB at 450 channels)")
    p.add_argument("--corrector", metavar="FILE", default=None,
                   help="a learned corrector (.keras) from an earlier --method learned run")
    p.add_argument("--samples", type=int, default=5000,
                   help="learned: tissue spectra sampled and ME-EMSC-corrected for training "
                        "(default 5000)")
    p.add_argument("--epochs", type=int, default=150, help="learned: epochs at most (default 150)")
    p.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)  # kept for old scripts
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def read_reference(path) -> tuple[np.ndarray | None, np.ndarray]:
    """``(axis or None, spectrum)`` from a .csv (wavenumber,absorbance) or .npy file."""
    from irpath.errors import DataFileError, MissingFileError, UnsupportedFormatError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such reference file")
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False).astype(np.float64)
        elif path.suffix.lower() in (".csv", ".txt"):
            arr = np.loadtxt(path, delimiter=",", comments="#", ndmin=2,
                             skiprows=_header_rows(path)).astype(np.float64)
        else:
            raise UnsupportedFormatError(f"{path}: reference must be .csv or .npy")
    except ValueError as exc:
        raise DataFileError(f"{path}: cannot read the reference spectrum: {exc}") from None
    if arr.ndim == 1:
        return None, arr
    if arr.ndim == 2 and 2 in arr.shape:
        arr = arr if arr.shape[0] == 2 and arr.shape[1] != 2 else arr.T
        return arr[0], arr[1]
    raise DataFileError(f"{path}: reference has shape {arr.shape}; expected (C,), (C, 2) or (2, C)")


def _header_rows(path: Path) -> int:
    first = path.read_text(encoding="utf-8-sig").split("\n", 1)[0]
    try:
        [float(v) for v in first.split(",")]
    except ValueError:
        return 1
    return 0


def _on_axis(ref, axis, path):
    from irpath.errors import ShapeError
    from irpath.io.axis import check_axis

    ref_axis, values = ref
    if ref_axis is None:
        if values.size != axis.size:
            raise ShapeError(f"{path}: reference has {values.size} values but the cube has "
                             f"{axis.size} channels (give a wavenumber column)")
        return values
    ref_axis = check_axis(ref_axis, values.size, str(path))
    if axis.min() < ref_axis.min() - 1e-6 or axis.max() > ref_axis.max() + 1e-6:
        raise ShapeError(f"{path}: reference spans {ref_axis.min():g}-{ref_axis.max():g} cm^-1, "
                         f"the cube {axis.min():g}-{axis.max():g}")
    order = np.argsort(ref_axis)
    return np.interp(axis, ref_axis[order], values[order])


def run(args) -> int:
    from irpath.cli.main import command_inputs, start_tensorflow
    from irpath.errors import ConfigError
    from irpath.io import read_cube, read_manifest
    from irpath.io.paths import atomic_write_json, check_free_space, plan_outputs
    from irpath.spectra.correct_cube import correct_cube_file
    from irpath.spectra.emsc import CorrectionConfig

    method = args.method or ("learned" if args.corrector else "me-emsc")
    if args.block < 1 or args.samples < 10:
        raise ConfigError(f"--block >= 1 and --samples >= 10 required, got {args.block}, {args.samples}")
    if args.corrector and method != "learned":
        raise ConfigError(f"--corrector needs --method learned, got --method {method}")
    start_tensorflow()  # biospectools and the learned corrector import TensorFlow
    config = None if method == "learned" else CorrectionConfig(
        method=method, iterations=args.iterations, n_components=args.components)
    reference = read_reference(args.reference) if args.reference else None
    out = Path(args.out)
    manifests, paths = [], []
    for f in args.input:
        if Path(f).suffix.lower() == ".csv":
            manifests.append(read_manifest(f))
            paths += [row.image for row in manifests[-1]]
        else:
            paths.append(Path(f))
    names = {}
    for path in dict.fromkeys(paths):
        names[Path(path)] = _unique_name(Path(path), names.values())
    planned = [f"{n}{ext}" for n in names.values() for ext in (".hdr", ".img", ".correction.json")]
    planned += [m.path.name for m in manifests] + ["correction.json"]
    if method == "learned" and not args.corrector:
        planned += ["corrector.keras", "corrector.json"]
    plan_outputs(out, planned, command="correct", inputs=command_inputs(args))
    cubes = {p: read_cube(p, mmap=True) for p in names}
    check_free_space(out, sum(4 * int(np.prod(c.shape)) for c in cubes.values()), "the corrected cubes")
    summary = dict(method=method, reference=str(args.reference) if args.reference
                   else "mean tissue spectrum", cubes={})
    corrector = config
    if method == "learned":
        corrector, summary["learned"] = _learned(args, cubes, reference, out)
    written = {}
    for path, cube in cubes.items():
        ref = None if reference is None else _on_axis(reference, cube.wavenumbers, args.reference)
        name = names[path]
        report = correct_cube_file(cube, out / f"{name}.hdr", corrector, reference=ref,
                                   block_spectra=args.block, progress=not args.no_progress,
                                   label=method)
        written[path] = report["path"]
        summary["cubes"][name] = {k: v for k, v in report.items()
                                  if k not in ("path", "reference_spectrum")}
        if report["failed_spectra"]:
            print(f"{path}: {report['failed_spectra']} spectra failed to correct (NaN; pixels in "
                  f"{out / 'correction.json'})", file=sys.stderr)
        print(f"{path} -> {report['path']}")
    atomic_write_json(out / "correction.json", summary)
    for m in manifests:
        target = out / m.path.name
        _rewrite_manifest(m, written, target)
        print(f"manifest: {target}")
    return 0


def _learned(args, cubes, reference, out):
    """The learned corrector: ``--corrector``, the one a killed run saved, or a new one."""
    import json

    from irpath.io.paths import atomic_write_json
    from irpath.train.descatter import (DescatterConfig, LearnedCorrector, load_corrector,
                                        save_corrector, train_corrector)

    if args.corrector:
        return load_corrector(args.corrector), {"corrector": str(args.corrector)}
    saved, record = out / "corrector.keras", out / "corrector.json"
    if saved.is_file() and record.is_file():
        print(f"learned: reusing {saved} (trained by an earlier run)", flush=True)
        return load_corrector(saved), json.loads(record.read_text())
    first = next(iter(cubes.values()))
    ref = None if reference is None else _on_axis(reference, first.wavenumbers, args.reference)
    model, report = train_corrector(list(cubes.values()),
                                    DescatterConfig(samples=args.samples, epochs=args.epochs),
                                    reference=ref, iterations=args.iterations,
                                    n_components=args.components, progress=not args.no_progress)
    save_corrector(model, saved)
    report["corrector"] = str(saved)
    atomic_write_json(record, report)
    return LearnedCorrector(model, "trained in this run"), report


def _unique_name(path: Path, taken) -> str:
    names = {Path(t).name for t in taken}
    name = path.stem
    if name in names:
        name = f"{path.parent.name}_{name}"
    i = 2
    while name in names:
        name, i = f"{path.stem}_{i}", i + 1
    return name


def _rewrite_manifest(manifest, written, target: Path) -> None:
    """The manifest's CSV with ``image`` pointing at the corrected cubes (paths relative to
    ``target``'s folder); other columns made absolute so they still resolve."""
    import os

    from irpath.io.paths import atomic_path

    with open(manifest.path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [h.strip() for h in reader.fieldnames]
        records = [{k.strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    base = manifest.path.parent
    with atomic_path(target) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for rec, row in zip(records, manifest.rows):
            rec = dict(rec)
            rec["image"] = os.path.relpath(written[row.image], target.parent)
            for col in ("mask", "tissue"):
                if rec.get(col):
                    rec[col] = str((base / rec[col]).resolve())
            writer.writerow(rec)

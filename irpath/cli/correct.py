"""``irpath correct``: Mie / scatter correction of IR cubes with biospectools (EMSC, ME-EMSC)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

HELP = """\
Correct the scattering of IR cubes before training or prediction, with
biospectools' EMSC or ME-EMSC, and write each corrected cube as ENVI
(DIR/<name>.hdr + .img, BIP float32, with its wavenumber axis). A manifest .csv
input is rewritten to DIR/<manifest name> pointing at the corrected cubes (mask
and tissue columns keep pointing at the original files).

Nothing is overwritten: before any work the command refuses, naming both files,
an output that would replace an input or a file it did not write itself (e.g.
--out the input's folder), and outputs larger than the free space. Each file is
written to a temporary and renamed when complete; re-running over its own
outputs is fine.

Methods (spectra per second measured on 2 busy cores, 450 channels;
benchmarks/correct_speed.py):
  emsc      (default) reference + quadratic baseline, one least-squares solve per
            block: ~10^4 spectra/s, a 1024 x 1024 mosaic in minutes. On spectra
            with a known Mie-like distortion it removed more of it than
            one-iteration ME-EMSC.
  me-emsc   ME-EMSC. --iterations 1 (default) builds the Mie basis once from the
            reference and corrects a block in one solve (~2x10^3 spectra/s).
            --iterations 30 is biospectools' full iterative ME-EMSC, refined per
            spectrum: ~0.3 spectra/s per process, i.e. weeks for a megapixel mosaic;
            use it on small spots, with --jobs.

The reference is a spectrum file (--reference: .csv with two columns
wavenumber,absorbance, or .npy with shape (C,) on the cube's axis, or (2, C) /
(C, 2) with the axis) interpolated onto each cube's axis; by default each
cube's own mean tissue spectrum. Non-tissue pixels are copied unchanged.
Large cubes are read memory-mapped and corrected block by block (--block
spectra at a time), so memory stays bounded; a progress bar shows on stderr.

examples:
  irpath correct --input spots/*.hdr --out corrected
  irpath correct --input train.csv --out corrected --method me-emsc --reference matrigel.csv
"""


def add_parser(sub):
    from irpath.spectra.emsc import METHODS

    p = sub.add_parser("correct", help="Mie / scatter correction (EMSC, ME-EMSC) of IR cubes",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, nargs="+", metavar="FILE",
                   help="cube files (.hdr .h5 .npy .dmt .seq .0 ...) or manifest .csv files")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--method", choices=METHODS, default="emsc", help="default: emsc")
    p.add_argument("--reference", metavar="FILE", default=None,
                   help="reference spectrum (.csv wavenumber,absorbance or .npy); "
                        "default: each cube's mean tissue spectrum")
    p.add_argument("--iterations", type=int, default=1,
                   help="ME-EMSC iterations (default 1: shared Mie basis, fast)")
    p.add_argument("--components", type=int, default=None,
                   help="ME-EMSC Mie components (default: biospectools' 99.96%% variance rule)")
    p.add_argument("--block", type=int, default=16384, metavar="SPECTRA",
                   help="spectra per block (default 16384, ~30 MB at 450 channels)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
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
    from irpath.spectra.axis import check_monotonic

    ref_axis, values = ref
    if ref_axis is None:
        if values.size != axis.size:
            raise ShapeError(f"{path}: reference has {values.size} values but the cube has "
                             f"{axis.size} channels (give a wavenumber column)")
        return values
    ref_axis = check_monotonic(ref_axis, values.size, str(path))
    if axis.min() < ref_axis.min() - 1e-6 or axis.max() > ref_axis.max() + 1e-6:
        raise ShapeError(f"{path}: reference spans {ref_axis.min():g}-{ref_axis.max():g} cm^-1, "
                         f"the cube {axis.min():g}-{axis.max():g}")
    order = np.argsort(ref_axis)
    return np.interp(axis, ref_axis[order], values[order])


def run(args) -> int:
    from irpath.cli.main import start_tensorflow
    from irpath.errors import ConfigError
    from irpath.io import read_cube, read_manifest
    from irpath.cli.main import command_inputs
    from irpath.io.paths import check_free_space, plan_outputs
    from irpath.spectra.emsc import CorrectionConfig, correct_cube

    if args.block < 1 or args.jobs < 1:
        raise ConfigError(f"--block and --jobs must be >= 1, got {args.block}, {args.jobs}")
    start_tensorflow()  # biospectools imports TensorFlow (its DSAE); mute its start-up lines
    config = CorrectionConfig(method=args.method, iterations=args.iterations,
                              n_components=args.components)
    reference = read_reference(args.reference) if args.reference else None
    out = Path(args.out)
    manifests, cubes = [], []
    for f in args.input:
        if Path(f).suffix.lower() == ".csv":
            manifests.append(read_manifest(f))
            cubes += [row.image for row in manifests[-1]]
        else:
            cubes.append(Path(f))
    names = {}
    for path in dict.fromkeys(cubes):
        names[Path(path)] = _unique_name(Path(path), names.values())
    plan_outputs(out, [f"{n}{ext}" for n in names.values() for ext in (".hdr", ".img")]
                 + [m.path.name for m in manifests], command="correct",
                 inputs=command_inputs(args))
    sizes = {p: read_cube(p, mmap=True).shape for p in names}
    check_free_space(out, sum(4 * h * w * c for h, w, c in sizes.values()), "the corrected cubes")
    written = {}
    for path, name in names.items():
        cube = read_cube(path, mmap=True)
        ref = None if reference is None else _on_axis(reference, cube.wavenumbers, args.reference)
        hdr, _ = correct_cube(cube, out / f"{name}.hdr", config, reference=ref,
                              block_spectra=args.block, jobs=args.jobs,
                              progress=not args.no_progress)
        written[Path(path)] = hdr
        print(f"{path} -> {hdr}")
    for m in manifests:
        target = out / m.path.name
        _rewrite_manifest(m, written, target)
        print(f"manifest: {target}")
    return 0


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

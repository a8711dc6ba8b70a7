"""``irpath inspect``: check cubes and manifests before training on them.

Every cube is opened memory-mapped and scanned in row blocks, so multi-GB
mosaics are summarised with bounded memory. The first unreadable file stops
the command with a one-line error naming it (exit code 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from irpath.io import RGB_SUFFIXES, read_cube, read_manifest, read_mask
from irpath.io.cube import Cube, row_blocks

DESCRIPTION = """\
Print a summary of each cube: its shape and stored dtype, the wavenumber axis,
the fraction of tissue pixels, the number of NaN values and invalid pixels, and
the range of the finite values. A .csv PATH is read as a manifest (columns
image,label[,mask,tissue]); every row is validated and every image summarised
with its label. Cubes with +/-Inf, pixels mixing NaN and finite values, or no
tissue at all are reported as errors.

examples:
  irpath inspect spots/*.hdr
  irpath inspect train.csv --json > train_summary.json
  irpath inspect scan.h5 --dataset /measurement/cube --axis-key wn
"""

_LABEL_NAMES = {0: "cancer-free", 1: "cancer"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``inspect`` on the ``irpath`` sub-command parser."""
    parser = subparsers.add_parser(
        "inspect", help="summarise cubes and manifests (shape, axis, tissue, NaNs)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="cube files (.hdr .h5 .npy .npz .mat .png .tif ...) or manifest .csv")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON list of summaries instead of text")
    parser.add_argument("--dataset", default=None,
                        help="HDF5 dataset / .npz array / .mat variable holding the cube "
                             "(default: cube, data, image, ...)")
    parser.add_argument("--axis-key", default=None,
                        help="name of the wavenumber axis in HDF5/.npz/.mat files "
                             "(default: wavenumbers, wavenumber, wn)")
    parser.set_defaults(func=run)
    return parser


def _scan(data: np.ndarray) -> tuple[int, float | None, float | None]:
    """``(nan_count, min, max)`` over an (H, W, C) array, read in row blocks."""
    nans, lo, hi = 0, np.inf, -np.inf
    for a, b in row_blocks(data):
        block = np.asarray(data[a:b])
        if block.dtype.kind == "f":
            nans += int(np.isnan(block).sum())
            block = block[np.isfinite(block)]
        if block.size:
            lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    return nans, (lo if np.isfinite(lo) else None), (hi if np.isfinite(hi) else None)


def _tissue_fraction(cube: Cube) -> float | None:
    """Fraction of tissue pixels: amide I absorbance if the axis spans the band (as training
    and prediction take it); for RGB images the non-background (not bright and grey) pixels,
    as the RGB methods see them."""
    from irpath.spectra import check_spectra, tissue_mask
    from irpath.io.axis import check_axis
    from irpath.spectra.mask import spans_amide_band

    if Path(cube.path).suffix.lower() in RGB_SUFFIXES:
        from irpath.data.prepare import prepare_image

        return float(prepare_image(cube.path, "rgb").tissue.mean())
    check_spectra(cube.data, cube.valid, name=cube.path)
    axis = cube.wavenumbers
    if axis is not None:
        check_axis(axis, cube.shape[-1], name=cube.path)
        axis = axis if spans_amide_band(axis) else None
    return float(tissue_mask(cube.data, cube.valid, axis=axis).mean())


def summarise(cube: Cube) -> dict:
    """A JSON-ready summary of one cube (see :data:`DESCRIPTION`)."""
    nans, lo, hi = _scan(cube.data)
    axis = cube.wavenumbers
    return {
        "path": cube.path,
        "shape": list(cube.shape),
        "dtype": str(np.dtype(cube.data.dtype).newbyteorder("=")),
        "axis": None if axis is None else {"first": float(axis[0]), "last": float(axis[-1]),
                                           "points": int(axis.size)},
        "tissue_fraction": _tissue_fraction(cube),
        "nan_values": nans,
        "invalid_pixels": int((~cube.valid).sum()),
        "min": lo,
        "max": hi,
    }


def _manifest_summaries(path: Path, args) -> list[dict]:
    """Validate a manifest, then summarise each image (and check its masks' shapes)."""
    summaries = []
    for row in read_manifest(path):
        summary = summarise(read_cube(row.image, mmap=True, dataset=args.dataset,
                                      axis_key=args.axis_key))
        summary.update(manifest=str(path), label=row.label)
        for key in ("mask", "tissue"):
            mask_path = getattr(row, key)
            if mask_path is not None:
                mask = read_mask(mask_path, shape=summary["shape"][:2])
                summary[f"{key}_file_fraction"] = float(mask.mean())
        summaries.append(summary)
    return summaries


def _is_slide(path: Path) -> bool:
    from irpath.io.sources import is_big_image

    return path.is_file() and is_big_image(path)


def slide_summary(path: Path) -> dict:
    """Vendor, levels, dimensions, µm/px and tissue fraction (on a thumbnail) of a slide."""
    from irpath.data.prepare_source import thumbnail
    from irpath.io.sources import open_image
    from irpath.data.rgb_tissue import rgb_tissue_mask

    with open_image(path) as src:
        summary = {"path": str(path), **src.summary()}
        thumb = thumbnail(src)
    summary["tissue_fraction"] = float(rgb_tissue_mask(thumb).mean()) if thumb.shape[-1] == 3 else None
    return summary


def format_slide(s: dict) -> str:
    """The text block printed for one slide."""
    mpp = "unknown" if s["mpp"] is None else f"{s['mpp']:g} µm/px at level 0"
    tissue = "n/a" if s["tissue_fraction"] is None else f"{100 * s['tissue_fraction']:.1f} %"
    lines = [s["path"], f"  vendor   {s['vendor']}", f"  levels   {s['levels']}"]
    for i, ((h, w), d) in enumerate(zip(s["dimensions"], s["downsamples"])):
        lines.append(f"  level {i}  {h} x {w} (H x W), downsample {d:g}")
    lines += [f"  µm/px    {mpp}", f"  tissue   {tissue} of the slide"]
    return "\n".join(lines)


def format_summary(s: dict) -> str:
    """The text block printed for one summary."""
    if "vendor" in s:
        return format_slide(s)
    h, w, c = s["shape"]
    axis = "none" if s["axis"] is None else (
        f"{s['axis']['first']:g} .. {s['axis']['last']:g} cm^-1, {s['axis']['points']} points")
    tissue = "n/a" if s["tissue_fraction"] is None else f"{100 * s['tissue_fraction']:.1f} %"
    values = "no finite values" if s["min"] is None else f"{s['min']:g} .. {s['max']:g}"
    lines = [s["path"]]
    if "label" in s:
        lines.append(f"  label    {s['label']} ({_LABEL_NAMES[s['label']]})")
    lines += [f"  shape    {h} x {w} x {c} (H x W x C), stored {s['dtype']}",
              f"  axis     {axis}",
              f"  tissue   {tissue} of pixels",
              f"  NaN      {s['nan_values']} values; {s['invalid_pixels']} of {h * w} pixels invalid",
              f"  values   {values} (finite)"]
    for key in ("mask", "tissue"):
        if f"{key}_file_fraction" in s:
            lines.append(f"  {key + ' file':<8} {100 * s[f'{key}_file_fraction']:.1f} % of pixels")
    return "\n".join(lines)


def run(args) -> int:
    """Summarise every PATH; IrpathErrors propagate to ``main`` (one line, exit 2)."""
    summaries = []
    for name in args.paths:
        path = Path(name)
        if path.suffix.lower() == ".csv":
            found = _manifest_summaries(path, args)
            if not args.json:
                print(f"manifest {path}: {len(found)} image(s)")
        elif _is_slide(path):
            found = [slide_summary(path)]
        else:
            found = [summarise(read_cube(path, mmap=True, dataset=args.dataset,
                                         axis_key=args.axis_key))]
        if not args.json:
            print("\n".join(format_summary(s) for s in found), flush=True)
        summaries += found
    if args.json:
        print(json.dumps(summaries, indent=2))
    return 0

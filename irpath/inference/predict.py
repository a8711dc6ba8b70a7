"""Maps for image files with any method: ``.npy`` maps, the method's results, a PNG and a JSON summary.

Every input is prepared as its method's modality requires
(:func:`irpath.data.prepare.prepare_image`). Images up to ``tile_limit`` pixels go
through the model whole; larger ones are read lazily and predicted tile by tile
into a memory-mapped ``.npy`` (:func:`irpath.inference.tiling.predict_tiled`),
so memory is bounded by the tile, not the image.

Outputs per input, under a name unique among the inputs:

* ``<name>.npy``: the maps, (H, W) when the method has one map, else (H, W, K);
* ``<name>_<suffix>.npy``: the method's result arrays (instances: ``*inst*``, int32);
* ``<name>.png``: the image beside the maps.

``predictions.json`` lists, for every input, its path, its files and the
method's numbers.

Before any work the outputs are checked by :func:`irpath.io.paths.plan_outputs` (none
may replace an input, a model file or a file predict did not write), and the free space
against the size of the maps; every file is written to a temporary and renamed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from irpath.errors import InvalidValuesError
from irpath.inference.loading import Predictor, model_files
from irpath.io.paths import (atomic_save_npy, atomic_write_json, check_free_space, input_files,
                             plan_outputs, temporary_name)

#: Images with more pixels than this are predicted tile by tile (2048 x 2048).
DEFAULT_TILE_LIMIT = 2048 * 2048
#: 224 x 224 tiles keep a 450-channel CompSegNet under 2 GB RSS (benchmarks/tiled_predict.py).
DEFAULT_TILE = 224
DEFAULT_OVERLAP = 32


def unique_stems(paths) -> list[str]:
    """A distinct output name per input: the file stem, prefixed with as many parent
    folder names as needed (then a counter) when stems collide."""
    paths = [Path(p) for p in paths]

    def stem(p: Path, depth: int) -> str:
        base = p.with_suffix("").name if p.suffix.lower() == ".hdr" else p.stem
        parts = [q.name for q in list(p.parents)[:depth] if q.name][::-1]
        return "_".join(parts + [base])
    names = [stem(p, 0) for p in paths]
    for depth in range(1, 8):
        dup = {n for n in names if names.count(n) > 1}
        if not dup:
            return names
        names = [stem(p, depth) if n in dup else n for p, n in zip(paths, names)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if names.count(n) == 1 else f"{n}_{seen[n]}")
    return out


def predict_maps(predictor: Predictor, prepared, *, out_file=None, tile_limit: int = DEFAULT_TILE_LIMIT,
                 tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, progress: bool = True,
                 tta: bool = False) -> np.ndarray:
    """(H, W, K) maps of one prepared image, whole or tiled.

    Args:
        predictor: the loaded model.
        prepared: a :class:`~irpath.data.prepare.PreparedImage`.
        out_file: a ``.npy`` path for tiled output (memory-mapped); None keeps it in memory.
        tile_limit: images with more pixels are tiled.
        tile, overlap: tile size and overlap in pixels.
        tta: average over the 8 flips / 90° turns (test-time augmentation).

    Raises:
        InvalidValuesError: the maps hold NaN or Inf (never written as results).
    """
    h, w = prepared.shape
    whole = prepared.data is not None and h * w <= tile_limit
    fn = predictor.predict if whole or predictor.predict_tiles is None else predictor.predict_tiles
    if tta:
        from irpath.inference.tta import dihedral_tta

        fn = dihedral_tta(fn)
    if whole:
        maps = fn(prepared.data[None])[0]
    else:
        from irpath.inference.tiling import predict_tiled

        maps = predict_tiled(prepared.source, fn, out_file, tile=tile, overlap=overlap,
                             align=predictor.method_obj.tile_align(predictor.config),
                             prepare=prepared.tile_prepare, progress=progress)
    bad = ~np.isfinite(maps)
    if bad.any():
        r, c = np.argwhere(bad.any(axis=-1))[0]
        raise InvalidValuesError(f"{prepared.path}: the model's maps hold {int(bad.any(axis=-1).sum())} "
                                 f"non-finite pixel(s) (first at row {r}, column {c}); are the input "
                                 "values in range?")
    return maps


def predict_files(predictor: Predictor, inputs, out_dir, *, threshold: float | None = None,
                  tile_limit: int = DEFAULT_TILE_LIMIT, tile: int = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP, tta: bool = False) -> dict:
    """Run ``predictor`` on each image file and write the outputs listed in the module
    docstring to ``out_dir``.

    Returns:
        The ``predictions.json`` dict.
    """
    method = predictor.method_obj
    cfg = predictor.config
    thr = method.threshold(cfg, threshold)
    out = Path(out_dir)
    inputs = [Path(p) for p in inputs]
    stems = unique_stems(inputs)
    planned = ["predictions.json"] + [f"{s}{end}" for s in stems for end in
                                      (".npy", ".png", *(f"_{a}.npy" for a in method.result_arrays))]
    guard = dict(command="predict", inputs=input_files(inputs), model_files=model_files(predictor.source),
                 owned=_earlier_predictions(out))
    plan_outputs(out, planned, **guard)
    shapes = [_shape(p) for p in inputs]
    k = len(method.output_names(cfg))
    check_free_space(out, sum(4 * h * w * k for h, w in filter(None, shapes)), "the maps")
    rows = []
    for i, (path, stem, shape) in enumerate(zip(inputs, stems, shapes), 1):
        prepared = method.prepare(path, cfg, lazy=shape is not None and shape[0] * shape[1] > tile_limit)
        map_file = out / f"{stem}.npy"
        tiled_file = temporary_name(map_file)  # tiled maps are memory-mapped here
        try:
            maps = predict_maps(predictor, prepared, out_file=tiled_file, tile_limit=tile_limit, tile=tile,
                                overlap=overlap, tta=tta)
            result = method.postprocess(maps, prepared, cfg, threshold=thr)
            if isinstance(maps, np.memmap) and maps.shape[-1] > 1:
                maps.flush()
                Path(maps.filename).replace(map_file)
            else:
                atomic_save_npy(map_file, np.asarray(maps[..., 0] if maps.shape[-1] == 1 else maps,
                                                     np.float32))
        finally:
            tiled_file.unlink(missing_ok=True)
        row = {"image": str(path), "map": map_file.name, "png": f"{stem}.png",
               "shape": list(maps.shape)}
        for suffix, array in result.get("arrays", {}).items():
            name = f"{stem}_{suffix}.npy"
            if suffix not in method.result_arrays:  # undeclared: guarded now
                plan_outputs(out, [name], **guard)
            atomic_save_npy(out / name, np.asarray(array))
            row[suffix] = name
        row.update(result.get("summary", {}))
        method.plot_prediction(prepared, maps, result, out / f"{stem}.png", threshold=thr,
                               title=f"{path.name}: {predictor.method} maps")
        rows.append(row)
        numbers = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in result.get("summary", {}).items())
        print(f"[{i}/{len(inputs)}] {path.name}: {numbers or 'maps written'}", file=sys.stderr, flush=True)
    summary = {"model": predictor.source, "method": predictor.method, "threshold": thr, "predictions": rows}
    atomic_write_json(out / "predictions.json", summary)
    return summary


def _shape(path: Path) -> tuple[int, int] | None:
    """The image's (H, W) read from its header only; None when it cannot be read."""
    from irpath.io import read_cube

    try:
        return tuple(read_cube(path, mmap=True).shape[:2])
    except Exception:  # let prepare() report the problem with its own message
        return None


def _earlier_predictions(out: Path) -> set[str]:
    """The files an earlier predict (before outputs were recorded) listed in predictions.json."""
    try:
        rows = json.loads((out / "predictions.json").read_text())["predictions"]
        names = {str(v) for r in rows for k, v in r.items() if k != "image" and isinstance(v, str)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return names | {"predictions.json"}

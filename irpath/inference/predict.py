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
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from irpath.errors import InvalidValuesError
from irpath.inference.loading import Predictor

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
    out.mkdir(parents=True, exist_ok=True)
    inputs = [Path(p) for p in inputs]
    rows = []
    for i, (path, stem) in enumerate(zip(inputs, unique_stems(inputs)), 1):
        prepared = method.prepare(path, cfg, lazy=_too_big(path, tile_limit))
        map_file = out / f"{stem}.npy"
        tiled_file = out / f".{stem}.maps.tmp.npy"
        maps = predict_maps(predictor, prepared, out_file=tiled_file, tile_limit=tile_limit, tile=tile,
                            overlap=overlap, tta=tta)
        result = method.postprocess(maps, prepared, cfg, threshold=thr)
        if maps.shape[-1] == 1:
            np.save(map_file, np.asarray(maps[..., 0], np.float32))
        elif isinstance(maps, np.memmap):
            maps.flush()
            Path(maps.filename).replace(map_file)
        else:
            np.save(map_file, np.asarray(maps, np.float32))
        tiled_file.unlink(missing_ok=True)
        row = {"image": str(path), "map": map_file.name, "png": f"{stem}.png",
               "shape": list(maps.shape)}
        for suffix, array in result.get("arrays", {}).items():
            name = f"{stem}_{suffix}.npy"
            np.save(out / name, array)
            row[suffix] = name
        row.update(result.get("summary", {}))
        method.plot_prediction(prepared, maps, result, out / f"{stem}.png", threshold=thr,
                               title=f"{path.name}: {predictor.method} maps")
        rows.append(row)
        numbers = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in result.get("summary", {}).items())
        print(f"[{i}/{len(inputs)}] {path.name}: {numbers or 'maps written'}", file=sys.stderr, flush=True)
    summary = {"model": predictor.source, "method": predictor.method, "threshold": thr, "predictions": rows}
    (out / "predictions.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _too_big(path: Path, tile_limit: int) -> bool:
    """True when the image has more than ``tile_limit`` pixels (read from its header only)."""
    from irpath.io import read_cube

    try:
        h, w = read_cube(path, mmap=True).shape[:2]
    except Exception:  # let prepare() report the problem with its own message
        return False
    return h * w > tile_limit

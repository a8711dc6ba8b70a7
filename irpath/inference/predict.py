"""Maps for image files with any method: ``.npy`` maps, the method's results, a PNG and a JSON summary.

Every input is prepared as its method's modality requires
(:func:`irpath.data.prepare.prepare_image`; slides and pyramids lazily at the
model's µm/px, :func:`irpath.data.prepare_source.prepare_slide`). An image goes
through the model whole only when its working set fits the memory budget
(:mod:`irpath.inference.plan`); otherwise it is read lazily and predicted tile by
tile into a memory-mapped ``.npy`` (:func:`irpath.inference.tiling.predict_tiled`),
so memory is bounded by the tile, not the image.

Outputs per input, under a name unique among the inputs:

* ``<name>.npy``: the maps, (H, W) when the method has one map, else (H, W, K);
* ``<name>_<suffix>.npy``: the method's result arrays (instances: ``*inst*``, int32);
* ``<name>.png``: the image beside the maps;
* ``<name>.geojson`` (``geojson``): the results as a QuPath FeatureCollection in level-0
  pixels (:meth:`irpath.methods.base.Method.geojson_features`);
* slides instead of the first and last: ``<name>_<map>.ome.tif`` (pyramidal, tiled,
  compressed, with the physical pixel size; the class map, or the activation map of
  compsegnet) and ``<name>_overlay.png`` (the map over a thumbnail).

``predictions.json`` lists, for every input, its path, its files, the method's
numbers, ``tissue_fraction`` (the fraction of the image's area that was computed),
``mpp``, ``level`` and ``downsample`` (level-0 pixels per map pixel: map pixel
(i, j) starts at level-0 pixel (i * downsample, j * downsample)).

Before any work the outputs are checked by :func:`irpath.io.paths.plan_outputs` (none
may replace an input, a model file or a file predict did not write), and the free space
against the size of the maps; every file is written to a temporary and renamed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from irpath.inference.loading import Predictor, model_files
from irpath.io.paths import (atomic_save_npy, atomic_write_json, check_free_space, input_files,
                             plan_outputs, temporary_name)

from irpath.inference.plan import DEFAULT_OVERLAP, DEFAULT_TILE  # noqa: F401  (re-exported)

#: The former pixel rule (2048 x 2048), kept for ``--tile-limit``; memory decides by default.
DEFAULT_TILE_LIMIT = 2048 * 2048


def unique_stems(paths) -> list[str]:
    """A distinct output name per input: the file stem, prefixed with as many parent
    folder names as needed (then a counter) when stems collide."""
    paths = [Path(p) for p in paths]

    def stem(p: Path, depth: int) -> str:
        base = p.with_suffix("").name if p.suffix.lower() == ".hdr" else p.stem
        if base.lower().endswith(".ome"):  # x.ome.tif -> x
            base = base[:-4]
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


def predict_maps(predictor: Predictor, prepared, *, out_file=None, tile_limit: int | None = None,
                 tile: int | None = None, overlap: int | None = None, progress: bool = True,
                 tta: bool = False, memory_limit: int | None = None) -> np.ndarray:
    """(H, W, K) maps of one prepared image, whole or tiled as memory allows
    (:func:`irpath.inference.engine.predict_maps`, the path every command takes).

    Args:
        predictor: the loaded model.
        prepared: a :class:`~irpath.data.prepare.PreparedImage`.
        out_file: a ``.npy`` path for tiled output (memory-mapped); None keeps it in memory.
        tile_limit: if given, images with more pixels are tiled whatever the memory.
        tile, overlap: tile size and overlap in pixels (default: the method's).
        tta: average over the 8 flips / 90° turns (test-time augmentation).
        memory_limit: bytes a whole-image pass may use (default a quarter of available memory).

    Raises:
        InvalidValuesError: the maps hold NaN or Inf (never written as results).
    """
    from irpath.inference import engine

    plan = engine.plan_for(predictor, prepared, memory_limit=memory_limit, tile=tile, overlap=overlap,
                           tile_limit=tile_limit)
    return engine.predict_maps(predictor, prepared, plan=plan, out_file=out_file, progress=progress, tta=tta)


@dataclasses.dataclass(frozen=True)
class PredictOptions:
    """What ``irpath predict`` asks of every input (see :func:`predict_files`)."""

    threshold: float | None = None
    tile_limit: int | None = None
    tile: int | None = None
    overlap: int | None = None
    tta: bool = False
    mpp: float | None = None
    level: int | None = None
    tissue: str = "auto"
    memory_limit: int | None = None
    progress: bool = True
    geojson: bool = False
    simplify: float | None = None


def predict_one(predictor: Predictor, path, stem: str, out_dir, opts: PredictOptions) -> dict:
    """Predict one input and write its outputs; returns its ``predictions.json`` row.

    The row is also written to ``out_dir/.rows/<stem>.json`` last, so a re-run knows
    the image is complete (:func:`done_row`).
    """
    from irpath.inference import engine

    method = predictor.method_obj
    cfg = predictor.config
    thr = method.threshold(cfg, opts.threshold)
    out = Path(out_dir)
    path = Path(path)
    prepared, plan = engine.prepare_input(predictor, path, mpp=opts.mpp, level=opts.level, tissue=opts.tissue,
                                          memory_limit=opts.memory_limit, tile=opts.tile, overlap=opts.overlap,
                                          tile_limit=opts.tile_limit)
    map_file = out / f"{stem}.npy"
    tiled_file = temporary_name(map_file)  # tiled maps are memory-mapped here
    maps = engine.predict_maps(predictor, prepared, plan=plan, out_file=tiled_file, progress=opts.progress,
                               tta=opts.tta)
    result = method.postprocess(maps, prepared, cfg, threshold=thr)
    slide = getattr(prepared, "image_source", None) is not None
    row = {"image": str(path)}
    if opts.geojson:
        from irpath.inference.outputs import write_geojson

        row.update(write_geojson(out, stem, method, result, maps, prepared, cfg, simplify=opts.simplify,
                                 threshold=thr))
    if slide:
        from irpath.inference.outputs import write_slide_outputs

        row.update(write_slide_outputs(out, stem, prepared, maps, result, threshold=thr))
    elif maps.shape[-1] == 1:
        atomic_save_npy(map_file, np.asarray(maps[..., 0], np.float32))
    elif isinstance(maps, np.memmap):
        maps.flush()
        Path(maps.filename).replace(map_file)
    else:
        atomic_save_npy(map_file, np.asarray(maps, np.float32))
    tiled_file.unlink(missing_ok=True)
    if not slide:
        row.update({"map": map_file.name, "png": f"{stem}.png"})
    row["shape"] = list(maps.shape)
    row.update({"tissue_fraction": round(float(getattr(prepared, "computed_fraction", 1.0)), 6),
                "mpp": getattr(prepared, "mpp", None), "level": int(getattr(prepared, "level", 0)),
                "downsample": float(getattr(prepared, "downsample", 1.0)), "tiled": not plan.whole})
    for suffix, array in result.get("arrays", {}).items():
        name = f"{stem}_{suffix}.npy"
        if suffix not in method.result_arrays:  # undeclared: guarded now
            plan_outputs(out, [name], command="predict", inputs=input_files([path]),
                         model_files=model_files(predictor.source), owned=_earlier_predictions(out))
        atomic_save_npy(out / name, np.asarray(array))
        row[suffix] = name
    row.update(result.get("summary", {}))
    if not slide:
        method.plot_prediction(prepared, maps, result, out / f"{stem}.png", threshold=thr,
                               title=f"{path.name}: {predictor.method} maps")
    source = getattr(prepared, "image_source", None)
    if source is not None:
        source.close()
    rows_dir = out / ".rows"
    rows_dir.mkdir(exist_ok=True)
    atomic_write_json(rows_dir / f"{stem}.json", row)
    return row


def done_row(out_dir, stem: str, path, *, geojson: bool = False) -> dict | None:
    """The row of an input a previous run completed (its outputs all present, with a
    ``.geojson`` when ``geojson``), else None."""
    f = Path(out_dir) / ".rows" / f"{stem}.json"
    try:
        row = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    files = [v for k, v in row.items() if k not in ("image",) and isinstance(v, str)
             and v.endswith((".npy", ".png", ".tif", ".geojson"))]
    if row.get("image") != str(path) or not all((Path(out_dir) / v).is_file() for v in files):
        return None
    if geojson and "geojson" not in row:
        return None
    return row


def predict_files(predictor: Predictor, inputs, out_dir, *, threshold: float | None = None,
                  tile_limit: int | None = None, tile: int | None = None,
                  overlap: int | None = None, tta: bool = False, options: PredictOptions | None = None,
                  workers: int | None = None, scheduler: str | None = None, worker_setup=None) -> dict:
    """Run ``predictor`` on each image file and write the outputs listed in the module
    docstring to ``out_dir``. Images a previous run completed are skipped.

    Args:
        options: everything per input; ``threshold`` ... ``tta`` fill it when None.
        workers, scheduler: run the images on dask.distributed (a LocalCluster of
            ``workers`` processes, or the cluster at ``scheduler``); see
            :mod:`irpath.inference.cohort`.
        worker_setup: what each cluster worker runs before loading the model.

    Returns:
        The ``predictions.json`` dict.
    """
    opts = options or PredictOptions(threshold=threshold, tile_limit=tile_limit, tile=tile, overlap=overlap,
                                     tta=tta)
    method = predictor.method_obj
    thr = method.threshold(predictor.config, opts.threshold)
    out = Path(out_dir)
    inputs = [Path(p) for p in inputs]
    stems = unique_stems(inputs)
    planned = ["predictions.json", ".rows/"] + [
        f"{s}{end}" for s in stems for end in (".npy", ".png", ".geojson", "_overlay.png", "_classes.ome.tif",
                                                "_activation.ome.tif",
                                                *(f"_{a}.npy" for a in method.result_arrays))]
    guard = dict(command="predict", inputs=input_files(inputs), model_files=model_files(predictor.source),
                 owned=_earlier_predictions(out))
    plan_outputs(out, planned, **guard)
    rows: list = [done_row(out, stem, path, geojson=opts.geojson) for path, stem in zip(inputs, stems)]
    todo = [i for i, r in enumerate(rows) if r is None]
    k = len(method.output_names(predictor.config))
    shapes = filter(None, (_shape(inputs[i]) for i in todo))  # images a re-run still has to do
    check_free_space(out, sum(4 * h * w * k for h, w in shapes), "the maps")
    if len(todo) < len(inputs):
        print(f"{len(inputs) - len(todo)} image(s) already complete in {out}: skipped", file=sys.stderr)
    if todo and (workers or scheduler):  # nothing left to do: no cluster
        from irpath.inference.cohort import run_cohort

        for i, row in run_cohort(predictor.source, predictor.method, [(inputs[i], stems[i]) for i in todo],
                                 out, opts, workers=workers, scheduler=scheduler,
                                 setup=worker_setup):
            rows[todo[i]] = row
    else:
        for n, i in enumerate(todo, 1):
            rows[i] = predict_one(predictor, inputs[i], stems[i], out, opts)
            numbers = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                for k, v in rows[i].items() if k in _summary_keys(rows[i]))
            print(f"[{n}/{len(todo)}] {inputs[i].name}: {numbers or 'maps written'}", file=sys.stderr, flush=True)
    summary = {"model": predictor.source, "method": predictor.method, "threshold": thr, "predictions": rows}
    atomic_write_json(out / "predictions.json", summary)
    return summary


def _summary_keys(row: dict) -> list[str]:
    fixed = {"image", "map", "png", "geojson", "geojson_features", "shape", "tissue_fraction", "mpp", "level",
             "downsample", "tiled", "ome_tiff", "overlay", "ome_levels"}
    return [k for k, v in row.items() if k not in fixed and isinstance(v, (int, float)) and not isinstance(v, bool)]


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

"""Outputs of a slide: the map as a pyramidal OME-TIFF and a thumbnail overlay PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.io.ome_tiff import write_ome_pyramid
from irpath.io.paths import atomic_path

#: Overlay colours of class indices 1.. (class 0 / background is not drawn).
_COLOURS = np.array([[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180]], np.float32)


def slide_map(maps, result: dict) -> tuple[str, np.ndarray]:
    """``(map name, (H, W) array)`` written for a slide: the method's class map, or the
    activation map of a one-map method, or the argmax of the maps."""
    arrays = result.get("arrays", {})
    for suffix, array in arrays.items():
        if "class" in suffix and np.asarray(array).ndim == 2:
            return suffix, np.asarray(array).astype(np.uint8 if array.max() < 256 else np.int32)
    if maps.shape[-1] == 1:
        return "activation", maps[..., 0]
    classes = np.empty(maps.shape[:2], np.uint8)
    for y in range(0, maps.shape[0], 1024):
        classes[y:y + 1024] = np.argmax(maps[y:y + 1024], axis=-1)
    return "classes", classes


def thumbnail_overlay(path, thumb01: np.ndarray, array: np.ndarray, *, activation: bool, threshold=0.5) -> None:
    """A PNG of the thumbnail with the map blended over it (classes >= 1, or map > threshold)."""
    from PIL import Image

    h, w = thumb01.shape[:2]
    ys = np.minimum(((np.arange(h) + 0.5) * array.shape[0] / h).astype(int), array.shape[0] - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * array.shape[1] / w).astype(int), array.shape[1] - 1)
    small = np.asarray(array[ys[:, None], xs[None, :]])
    img = np.asarray(thumb01, np.float32)[..., :3] * 255.0
    if activation:
        on = small > (0.5 if threshold is None else threshold)
        img[on] = 0.5 * img[on] + 0.5 * _COLOURS[0]
    else:
        for k in range(1, int(small.max()) + 1 if small.size else 1):
            on = small == k
            img[on] = 0.5 * img[on] + 0.5 * _COLOURS[(k - 1) % len(_COLOURS)]
    with atomic_path(path) as tmp:
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tmp, format="PNG")


def write_slide_outputs(out: Path, stem: str, prepared, maps, result: dict, *, threshold=None) -> dict:
    """Write ``<stem>_<map>.ome.tif`` and ``<stem>_overlay.png``; returns their names."""
    name, array = slide_map(maps, result)
    tif = f"{stem}_{name}.ome.tif"
    levels = write_ome_pyramid(out / tif, array, mpp=getattr(prepared, "mpp", None), name=f"{stem} {name}")
    png = f"{stem}_overlay.png"
    thumbnail_overlay(out / png, prepared.display, array, activation=name == "activation", threshold=threshold)
    return {"ome_tiff": tif, "overlay": png, "ome_levels": [list(s) for s in levels]}


def write_geojson(out: Path, stem: str, method, result: dict, maps, prepared, cfg, *, simplify=None,
                  threshold=None) -> dict:
    """Write ``<stem>.geojson`` (the method's results as a QuPath FeatureCollection, see
    :meth:`irpath.methods.base.Method.geojson_features`); returns its row entries."""
    from irpath.io.geojson import write_feature_collection

    collection = method.geojson_features(result, maps, prepared, cfg, simplify=simplify, threshold=threshold)
    name = f"{stem}.geojson"
    write_feature_collection(Path(out) / name, collection)
    return {"geojson": name, "geojson_features": len(collection["features"])}


def write_evaluate_geojson(out_dir, stem: str, predictor, maps, prepared, *, threshold=None,
                           simplify=None, result: dict | None = None) -> str:
    """``evaluate --geojson``: write ``out_dir/geojson/<stem>.geojson``, an image's predictions
    as QuPath objects (``result``: its post-processing, computed when None); returns the
    name relative to ``out_dir``."""
    method, cfg = predictor.method_obj, predictor.config
    maps = np.asarray(maps)
    maps = maps[..., None] if maps.ndim == 2 else maps
    if result is None:
        result = method.postprocess(maps, prepared, cfg, threshold=threshold)
    folder = Path(out_dir) / "geojson"
    folder.mkdir(parents=True, exist_ok=True)
    write_geojson(folder, stem, method, result, maps, prepared, cfg, simplify=simplify, threshold=threshold)
    return f"geojson/{stem}.geojson"

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

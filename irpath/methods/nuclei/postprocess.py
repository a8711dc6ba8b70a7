"""Probability maps → classified nucleus instances (Qu et al. 2019, Sec. 2.2; authors' ``test.py``).

1. argmax over the 5 maps; the inner parts are the pixels of classes 1-3
   (or, with ``inner_threshold`` t, the pixels whose three inner maps sum to
   more than t, each of the class of its largest inner map: irpath's option,
   see :func:`inner_classes`);
2. connected components (8-connectivity) of their union;
3. components smaller than ``min_area`` px are removed (authors: 20);
3b. with ``split`` h (irpath's option, None by default: the paper), each remaining
   component is split by a marker watershed (:func:`split_components`) on the
   smoothed P(inner) - P(contour) plus depth (:func:`split_height`), seeded at its
   h-maxima. Each nucleus's class is its majority inner class (ties → the lower
   class index);
4. each remaining component grows by ``radius`` px (authors: disk(1)), undoing
   the contour erosion of the targets; a grown pixel goes to the nearest
   component, so growing never merges or overwrites nuclei.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from irpath.errors import ShapeError

#: The authors' post-processing parameters (``params.py``: min_area, radius).
MIN_AREA, RADIUS = 20, 1
#: The split's landscape (:func:`split_height`): Gaussian smoothing (px) of P(inner) -
#: P(contour), and the weight of the depth inside the inner part (per px).
SPLIT_SIGMA, SPLIT_DEPTH = 2.0, 0.1


def split_height(prob_maps, inner, *, sigma: float = SPLIT_SIGMA, depth: float = SPLIT_DEPTH) -> np.ndarray:
    """(H, W) landscape that :func:`split_components` cuts along its valleys.

    P(inner) - P(contour) of the (H, W, 5) maps, Gaussian-smoothed by ``sigma`` px (high
    in the middle of a nucleus, low on the contour, however faint, that the network draws
    between two), plus ``depth`` times each pixel's distance to the outside of the (H, W)
    bool ``inner`` parts (high in the middle of each of two overlapping discs, low on their
    neck, where the maps show no seam at all).
    """
    prob_maps = np.asarray(prob_maps, np.float64)
    seam = ndimage.gaussian_filter(prob_maps[..., 1:4].sum(axis=-1) - prob_maps[..., 4], sigma)
    return seam + depth * ndimage.distance_transform_edt(np.asarray(inner, bool))


def split_components(components, height, h: float) -> np.ndarray:
    """Split each labelled component along the valleys of ``height``.

    The markers are the h-maxima of ``height`` inside the components: the regional maxima
    of its reconstruction by dilation from ``height - h``, so two peaks are two seeds only
    when the saddle between them lies more than ``h`` below the lower one (equal, saturated
    peaks are not split by a shallow dip). A component without one keeps itself as its
    marker, so no component is lost. A marker-controlled watershed of ``-height``
    restricted to the components assigns every pixel.

    Args:
        components: (H, W) int ids, 0 background.
        height: (H, W) float landscape (:func:`split_height`).
        h: the smallest rise of a seed; larger h splits less.

    Returns:
        (H, W) int32 ids 1..m (m >= the number of components), 0 background.
    """
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import watershed

    components = np.asarray(components)
    fg = components > 0
    if not fg.any():
        return np.zeros(components.shape, np.int32)
    land = np.where(fg, height, float(np.min(height[fg])) - 1.0 - h)
    flooded = reconstruction(land - h, land, method="dilation")
    seeds, n_seeds = ndimage.label(local_maxima(flooded, connectivity=2) & fg, structure=np.ones((3, 3), bool))
    seeded = np.zeros(int(components.max()) + 1, bool)
    seeded[components[seeds > 0]] = True
    markers = np.where(fg & ~seeded[components], components + n_seeds, seeds)
    out = watershed(-land, markers, mask=fg, connectivity=2)
    ids = np.unique(out[out > 0])
    lut = np.zeros(int(out.max()) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[out]


def instances_from_classes(pred, *, min_area: int = MIN_AREA, radius: float = RADIUS,
                           split: float | None = None, height=None):
    """Instances from a per-pixel 5-class prediction.

    Args:
        pred: (H, W) integer classes in {0..4} (0 background, 1-3 inside
            tumour/lymphocyte/stroma, 4 contour).
        min_area: smallest inner part kept, in pixels.
        radius: growth radius in pixels (Euclidean); 0 disables it.
        split, height: None (the paper), or the ``h`` and landscape of
            :func:`split_components`, applied to the kept inner parts.

    Returns:
        ``(instances, classes, class_image)``: (H, W) int32 ids 1..n; ``{id: class}``
        with class 0 tumour, 1 lymphocyte, 2 stroma (``id % 3`` convention of
        :mod:`~irpath.methods.nuclei.labels`); (H, W) uint8 class image, 0
        background, ``1 + class`` inside nuclei.
    """
    pred = np.asarray(pred)
    if pred.ndim != 2:
        raise ShapeError(f"pred must be (H, W), got shape {pred.shape}")
    inner = (pred >= 1) & (pred <= 3)
    components, n = ndimage.label(inner, structure=np.ones((3, 3), bool))
    counts = np.bincount(components.ravel() * 4 + np.where(inner, pred, 0).ravel(),
                         minlength=(n + 1) * 4).reshape(n + 1, 4)
    areas = counts.sum(axis=1)
    keep = (areas >= min_area) & (np.arange(n + 1) > 0)
    new_ids = np.zeros(n + 1, np.int32)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1)
    instances = new_ids[components]
    if split is not None:
        if height is None:
            raise ValueError("split needs the height landscape (split_height of the maps)")
        instances = split_components(instances, height, split)
    n = int(instances.max(initial=0))
    counts = np.bincount(instances.ravel() * 4 + np.where(instances > 0, pred, 0).ravel(),
                         minlength=(n + 1) * 4).reshape(n + 1, 4)
    comp_class = counts[:, 1:].argmax(axis=1)  # 0 tumour, 1 lymphocyte, 2 stroma
    if radius > 0 and instances.any():
        dist, (iy, ix) = ndimage.distance_transform_edt(instances == 0, return_indices=True)
        instances = np.where(dist <= radius, instances[iy, ix], 0).astype(np.int32)
    classes = {i: int(comp_class[i]) for i in range(1, n + 1)}
    lut = np.zeros(len(classes) + 1, np.uint8)
    for i, c in classes.items():
        lut[i] = 1 + c
    return instances.astype(np.int32), classes, lut[instances]


def inner_classes(prob_maps, inner_threshold: float | None = None) -> np.ndarray:
    """(H, W) per-pixel classes in {0..4} from (H, W, 5) probability maps.

    ``inner_threshold`` None: the argmax (the authors). A value t: a pixel is an
    inner part when P(tumour) + P(lymphocyte) + P(stroma) > t, of the class of
    the largest of the three; every other pixel is background (0). Between
    touching nuclei a network often draws the contour only faintly (inner parts
    ~0.6, contour ~0.3 there): the argmax then joins the two nuclei, while
    t above the inner probability of that faint seam splits them. The grown-back
    radius restores what the stricter threshold shaves off the rims.
    """
    prob_maps = np.asarray(prob_maps)
    if prob_maps.ndim != 3 or prob_maps.shape[-1] != 5:
        raise ShapeError(f"prob_maps must be (H, W, 5), got shape {prob_maps.shape}")
    if inner_threshold is None:
        return prob_maps.argmax(axis=-1)
    inner = prob_maps[..., 1:4]
    return np.where(inner.sum(axis=-1) > inner_threshold, 1 + inner.argmax(axis=-1), 0)


def postprocess(prob_maps, *, min_area: int = MIN_AREA, radius: float = RADIUS,
                inner_threshold: float | None = None, split: float | None = None):
    """Instances and classes from the network's maps.

    Args:
        prob_maps: (H, W, 5) probabilities in target-class order.
        min_area, radius: see :func:`instances_from_classes`.
        inner_threshold: see :func:`inner_classes` (None: argmax, the authors').
        split: None (the authors'), or split inner parts at seeds rising more than this
            on :func:`split_height` (:func:`split_components`).

    Returns:
        ``(instances (H, W) int32, {id: class}, class_image (H, W) uint8)``.
    """
    classes = inner_classes(prob_maps, inner_threshold)
    height = None if split is None else split_height(prob_maps, (classes >= 1) & (classes <= 3))
    return instances_from_classes(classes, min_area=min_area, radius=radius, split=split, height=height)


#: QuPath colours of the nucleus classes (tumour, lymphocyte, stroma).
COLOURS = ((200, 0, 0), (0, 0, 200), (0, 150, 0))


def geojson_features(instances, classes: dict, maps, *, simplify=None, **geo) -> list[dict]:
    """One detection per nucleus of ``instances`` ((H, W) ids; ``classes`` ``{id: class}``,
    0 tumour, 1 lymphocyte, 2 stroma), classified, with its area and the mean probability
    of its class over its pixels (the class's map of the (H, W, 5) ``maps``)."""
    from irpath.inference.geojson_export import ObjectKind, class_probability, map_features
    from irpath.methods.nuclei.labels import CLASSES

    n = int(np.max(instances, initial=0))
    cls = np.zeros(n + 1, np.int64)
    for i, c in classes.items():
        cls[i] = c
    kinds = [ObjectKind(CLASSES[c], COLOURS[c], object_type="detection") for c in range(3)]
    return map_features(instances, class_probability(maps, 1 + cls), lambda key: kinds[cls[key]],
                        simplify=simplify, **geo)

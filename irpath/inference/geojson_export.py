"""Label maps -> valid, simplified polygons in level-0 pixels, tile by tile (QuPath GeoJSON out).

A map is read a tile at a time (with a 1-pixel margin, so the contours of neighbouring
tiles agree on the seam). In each tile the pixels of every key (a class or an instance
id) are split into 8-connected components, traced with marching squares
(:func:`skimage.measure.find_contours` at 0.5, pixel-centre samples) and clipped to
the tile with shapely. A component that reaches an inner tile edge waits; the others
are finished. At the end the waiting parts of each key are joined with
:func:`shapely.unary_union` (on the 0.5-px grid every unsimplified vertex lies on),
so an object cut by seams comes out as one object, and memory is bounded by the tile
and the seams, not the image.

Objects are then simplified (Douglas-Peucker with topology kept, ``simplify`` map
pixels, default :data:`DEFAULT_SIMPLIFY`), objects smaller than ``min_area`` map
pixels (default :data:`MIN_AREA`) are dropped, every polygon is made valid, and
coordinates are scaled by the map's ``downsample`` to level-0 pixels.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import shapely
import shapely.affinity
from scipy import ndimage
from shapely.geometry import MultiPolygon, Polygon, box, mapping
from skimage.measure import find_contours

from irpath.io.geojson import feature

#: Default simplification tolerance, in map pixels (the issue's bound: <= 1 px).
DEFAULT_SIMPLIFY = 0.5
#: Objects smaller than this many map pixels (after simplification) are dropped.
MIN_AREA = 4.0
#: Tile side, in map pixels, of the tracing.
TILE = 1024


@dataclasses.dataclass(frozen=True)
class ObjectKind:
    """How one key of a label map is written.

    Attributes:
        name, color: the QuPath classification.
        object_type: "annotation", "detection" or "cell".
        split: True: each connected object of the key is its own feature (regions);
            False: the key is one feature (a class's MultiPolygon, or one instance).
    """

    name: str
    color: tuple
    object_type: str = "annotation"
    split: bool = False


@dataclasses.dataclass
class TracedObject:
    """One traced object in map pixels: its key, geometry and the sum / count of its
    class probability over its pixels."""

    key: int
    geometry: object
    prob_sum: float
    count: int


def _polygons(mask: np.ndarray) -> object:
    """The region of the True pixels of a (h, w) bool ``mask`` (which is False on its
    border), in pixel-edge coordinates of the mask: rings traced at 0.5, combined by
    their nesting (symmetric difference: islands in holes stay)."""
    rings = [Polygon(c[:, ::-1] + 0.5) for c in
             find_contours(mask.astype(np.float32), 0.5, fully_connected="high") if len(c) >= 4]
    rings = [shapely.make_valid(r) if not r.is_valid else r for r in rings]
    if not rings:
        return Polygon()
    return functools.reduce(lambda a, b: shapely.symmetric_difference(a, b, grid_size=0.5), rings)


def trace_tiles(read_keys, read_probs, shape, *, tile: int = TILE) -> list[TracedObject]:
    """Every object of a label map, traced tile by tile and joined across seams.

    Args:
        read_keys: ``(y0, y1, x0, x1) -> (y1-y0, x1-x0)`` int array of keys (0: nothing).
        read_probs: ``(y0, y1, x0, x1, keys) -> (h, w)`` float array: the probability of
            each pixel's own key class (only read where keys are non-zero), or None.
        shape: (H, W) of the map.
        tile: tile side in map pixels.

    Returns:
        Objects in map pixel coordinates (unsimplified); a key may have several
        (one per connected part of a split key, or pieces of a key in separate places).
    """
    h, w = shape
    done: list[TracedObject] = []
    waiting: dict[int, list[TracedObject]] = {}
    eight = np.ones((3, 3), bool)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ey0, ey1, ex0, ex1 = max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w)
            keys = np.asarray(read_keys(ey0, ey1, ex0, ex1))
            if not keys.any():
                continue
            inner = np.zeros(keys.shape, bool)
            inner[y0 - ey0:y1 - ey0, x0 - ex0:x1 - ex0] = True
            probs = None if read_probs is None else np.asarray(read_probs(ey0, ey1, ex0, ex1, keys), np.float64)
            clip = box(x0, y0, x1, y1)
            seams = (x0 > 0, y0 > 0, x1 < w, y1 < h)
            boxes = ndimage.find_objects(keys)  # each key's bounding box in the tile
            for key in np.unique(keys[inner]):
                if key == 0:
                    continue
                ky, kx = boxes[key - 1]
                sub_inner = inner[ky, kx]
                comps, n = ndimage.label(keys[ky, kx] == key, structure=eight)
                counts = np.bincount(comps[sub_inner], minlength=n + 1)
                sums = (np.bincount(comps[sub_inner], weights=probs[ky, kx][sub_inner], minlength=n + 1)
                        if probs is not None else np.zeros(n + 1))
                for c, sl in enumerate(ndimage.find_objects(comps), 1):
                    if sl is None or counts[c] == 0:
                        continue
                    mask = np.pad(comps[sl] == c, 1)
                    geom = shapely.affinity.translate(_polygons(mask), ex0 + kx.start + sl[1].start - 1,
                                                      ey0 + ky.start + sl[0].start - 1)
                    geom = shapely.intersection(geom, clip, grid_size=0.5)
                    if geom.is_empty:
                        continue
                    obj = TracedObject(int(key), geom, float(sums[c]), int(counts[c]))
                    bx0, by0, bx1, by1 = geom.bounds
                    touches = ((seams[0] and bx0 <= x0) or (seams[1] and by0 <= y0)
                               or (seams[2] and bx1 >= x1) or (seams[3] and by1 >= y1))
                    (waiting.setdefault(int(key), []) if touches else done).append(obj)
    for key, parts in waiting.items():
        done.extend(_join(key, parts))
    return done


def _join(key: int, parts: list[TracedObject]) -> list[TracedObject]:
    """The parts of one key joined across seams: one object per connected polygon, with
    the probability sums of the parts inside it."""
    merged = shapely.unary_union([p.geometry for p in parts], grid_size=0.5)
    polys = list(getattr(merged, "geoms", [merged]))
    polys = [g for g in polys if isinstance(g, Polygon) and not g.is_empty]
    out = [TracedObject(key, g, 0.0, 0) for g in polys]
    tree = shapely.STRtree(polys)
    for p in parts:
        point = p.geometry.representative_point()
        hits = tree.query(point, predicate="intersects")
        if len(hits):
            out[int(hits[0])].prob_sum += p.prob_sum
            out[int(hits[0])].count += p.count
    return out


def _clean(geom, simplify: float, min_area: float):
    """``geom`` simplified, valid, polygonal, without polygons below ``min_area``."""
    if simplify > 0:
        geom = shapely.simplify(geom, simplify, preserve_topology=True)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon)]
    polys += [q for g in shapely.get_parts(geom) if isinstance(g, MultiPolygon) for q in g.geoms]
    polys = [g for g in polys if g.area >= min_area]
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def objects_to_features(objects, kinds: dict, *, downsample: float = 1.0, mpp: float | None = None,
                        simplify: float = DEFAULT_SIMPLIFY, min_area: float = MIN_AREA,
                        extra=None) -> list[dict]:
    """QuPath features of traced objects.

    Args:
        objects: :class:`TracedObject` s in map pixels.
        kinds: ``{key: ObjectKind}``, or a callable ``key -> ObjectKind``.
        downsample: level-0 pixels per map pixel (coordinates are scaled by it).
        mpp: µm per map pixel: areas in µm² (``Area µm^2``), else in level-0 pixels (``Area px^2``).
        simplify: tolerance in map pixels (0: none); min_area: in map pixels.
        extra: ``key -> dict`` of further properties of a feature, or None.

    Returns:
        Features (:func:`irpath.io.geojson.feature`), each with the measurements
        ``Area µm^2`` (or ``Area px^2``) and ``Mean probability`` (of its class).
    """
    kind_of = kinds if callable(kinds) else kinds.__getitem__
    groups: dict = {}
    for o in objects:
        kind = kind_of(o.key)
        groups.setdefault((o.key, id(o)) if kind.split else (o.key,), []).append(o)
    features = []
    for k, objs in sorted(groups.items(), key=lambda kv: kv[0][0]):
        kind = kind_of(k[0])
        geom = _clean(shapely.union_all([o.geometry for o in objs], grid_size=0.5) if len(objs) > 1
                      else objs[0].geometry, simplify, min_area)
        if geom is None:
            continue
        geom = shapely.affinity.scale(geom, downsample, downsample, origin=(0, 0))
        count = sum(o.count for o in objs)
        mean = sum(o.prob_sum for o in objs) / count if count else None
        area = {"Area µm^2": geom.area * (mpp / downsample) ** 2} if mpp else {"Area px^2": geom.area}
        features.append(feature(mapping(geom), name=kind.name, color=kind.color, object_type=kind.object_type,
                                measurements={**area, "Mean probability": mean},
                                properties=extra(k[0]) if extra else None))
    return features


def map_features(keys, probs, kinds, *, shape=None, lut=None, downsample: float = 1.0,
                 mpp: float | None = None, simplify: float | None = None, min_area: float = MIN_AREA,
                 tile: int = TILE, extra=None) -> list[dict]:
    """Features of a label map: :func:`trace_tiles` + :func:`objects_to_features`.

    Args:
        keys: (H, W) int array (memory-mapped is fine; 0: nothing), or a ``read_keys``
            callable of :func:`trace_tiles` with ``shape`` given.
        probs: ``read_probs`` of :func:`trace_tiles` (e.g. :func:`class_probability`), or None.
        kinds, downsample, mpp, min_area, extra: see :func:`objects_to_features`.
        lut: an int array mapping the values of ``keys`` to keys (e.g. class -> key, 0 to drop).
        simplify: tolerance in map pixels (None: :data:`DEFAULT_SIMPLIFY`).
        tile: tile side in map pixels.
    """
    if callable(keys):
        read = keys
    else:
        shape = keys.shape[:2]
        lut_ = None if lut is None else np.asarray(lut)
        read = (lambda y0, y1, x0, x1: np.asarray(keys[y0:y1, x0:x1]) if lut_ is None  # noqa: E731
                else lut_[np.asarray(keys[y0:y1, x0:x1])])
    objects = trace_tiles(read, probs, shape, tile=tile)
    return objects_to_features(objects, kinds, downsample=downsample, mpp=mpp,
                               simplify=DEFAULT_SIMPLIFY if simplify is None else simplify,
                               min_area=min_area, extra=extra)


def class_probability(maps, channel_of):
    """``read_probs`` for (H, W, K) (or (H, W)) ``maps``: each pixel's probability in the
    channel ``channel_of[key]`` of its key (``channel_of``: an int array indexed by key)."""
    channel_of = np.asarray(channel_of)

    def read(y0, y1, x0, x1, keys):
        block = np.asarray(maps[y0:y1, x0:x1], np.float32)
        if block.ndim == 2:
            return block
        ch = channel_of[np.clip(keys, 0, len(channel_of) - 1)]
        return np.take_along_axis(block, ch[..., None], axis=-1)[..., 0]
    return read


def geojson_options(prepared, mpp=None) -> dict:
    """``downsample`` and ``mpp`` (µm per map pixel) keywords of :func:`map_features` for a
    prepared image (``mpp`` given: it wins over the image's)."""
    return {"downsample": float(getattr(prepared, "downsample", 1.0) or 1.0),
            "mpp": mpp if mpp is not None else getattr(prepared, "mpp", None)}

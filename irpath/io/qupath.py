"""QuPath GeoJSON annotations in: objects, class maps and rasterisation onto a grid.

QuPath (0.4 and later) exports a ``FeatureCollection``, a single ``Feature`` or a
bare list of features. Each feature has a ``Polygon`` or ``MultiPolygon`` geometry
(holes allowed) in level-0 pixels of its slide, ``properties.objectType``
(``annotation``, ``detection``, ``cell``) and, when classified,
``properties.classification.name``. Geometry is read by shapely; rasterisation
fills pixel centres with :func:`skimage.draw.polygon` (exterior ring minus holes).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, DataFileError, MissingFileError

OBJECT_TYPES = ("annotation", "detection", "cell", "tile", "tma_core")

#: QuPath's built-in class names mapped to the fcn classes (case-insensitive).
FCN_DEFAULT_CLASS_MAP = {"tumor": "cancer", "tumour": "cancer", "stroma": "stroma",
                         "other": "background", "necrosis": "background",
                         "ignore*": None, "region*": None, "immune cells": "stroma"}


@dataclasses.dataclass(frozen=True)
class QuPathObject:
    """One feature: its shapely geometry (level-0 px), class name (None: unclassified),
    object type and properties."""

    geometry: object
    name: str | None
    object_type: str
    properties: dict


@dataclasses.dataclass(frozen=True)
class Annotations:
    """The objects of one GeoJSON file and the collection's own properties."""

    path: Path
    objects: tuple
    properties: dict

    def of_type(self, *types) -> list:
        return [o for o in self.objects if o.object_type in types]

    def names(self) -> set:
        return {o.name for o in self.objects if o.name is not None}


def _features(doc, path):
    if isinstance(doc, list):
        return doc, {}
    if not isinstance(doc, dict):
        raise DataFileError(f"{path}: not GeoJSON (expected a Feature, a FeatureCollection or a list)")
    if doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise DataFileError(f"{path}: FeatureCollection without a 'features' list")
        return feats, dict(doc.get("properties") or {})
    if doc.get("type") == "Feature":
        return [doc], {}
    raise DataFileError(f"{path}: not GeoJSON (type {doc.get('type')!r}; expected Feature or "
                        "FeatureCollection)")


def read_qupath(path) -> Annotations:
    """Read a QuPath GeoJSON file.

    Raises:
        MissingFileError / DataFileError naming the file: missing, not JSON, a feature
        that is not a (Multi)Polygon or has invalid coordinates.
    """
    import shapely
    from shapely.geometry import shape

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such GeoJSON file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"{path}: not a JSON file ({exc})") from None
    feats, props = _features(doc, path)
    objects = []
    for i, f in enumerate(feats):
        if not isinstance(f, dict) or not isinstance(f.get("geometry"), dict):
            raise DataFileError(f"{path}: feature {i} has no geometry")
        kind = f["geometry"].get("type")
        if kind not in ("Polygon", "MultiPolygon"):
            raise DataFileError(f"{path}: feature {i} is a {kind}; only Polygon and MultiPolygon "
                                "objects are read")
        try:
            geom = shape(f["geometry"])
        except Exception as exc:  # shapely raises several types for bad coordinates
            raise DataFileError(f"{path}: feature {i} has bad coordinates ({exc})") from None
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        p = dict(f.get("properties") or {})
        cls = p.get("classification")
        name = cls.get("name") if isinstance(cls, dict) else (cls if isinstance(cls, str) else None)
        kind = str(p.get("objectType") or p.get("object_type") or "annotation").lower()
        objects.append(QuPathObject(geom, name, kind, p))
    return Annotations(path, tuple(objects), props)


def parse_class_map(text: str | None, classes, default: dict | None = None) -> dict:
    """``'Tumor=cancer,Stroma=stroma,Other=background'`` -> ``{"tumor": 0, ...}``.

    Keys are QuPath class names (lower-cased; a trailing ``*`` matches a prefix); values
    are the method's class names, or ``ignore`` (the objects are skipped).

    Raises:
        ConfigError: a malformed entry or a value that is not one of ``classes``.
    """
    classes = list(classes)
    if not text:
        pairs = dict(default or {})
    else:
        pairs = {}
        for part in str(text).split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ConfigError(f"--class-map: {part.strip()!r} is not NAME=CLASS "
                                  f"(e.g. 'Tumor=cancer,Stroma=stroma')")
            k, v = (s.strip() for s in part.split("=", 1))
            pairs[k.lower()] = None if v.lower() == "ignore" else v
    bad = sorted({v for v in pairs.values() if v is not None and v not in classes})
    if bad:
        raise ConfigError(f"--class-map: unknown class(es) {', '.join(bad)} (the method's classes: "
                          f"{', '.join(classes)}, or ignore)")
    return {k: (None if v is None else classes.index(v)) for k, v in pairs.items()}


def lookup(class_map: dict, name: str | None):
    """The class index of a QuPath name (None: ignored); KeyError when unmapped."""
    if name is None:
        return None
    key = name.lower()
    if key in class_map:
        return class_map[key]
    for k, v in class_map.items():
        if k.endswith("*") and key.startswith(k[:-1]):
            return v
    raise KeyError(name)


def classify(annotations: Annotations, class_map: dict, types=("annotation",)) -> list:
    """``[(geometry, class index)]`` of the classified objects of ``types``; unclassified
    objects and names mapped to ``ignore`` are skipped.

    Raises:
        ConfigError: names the class map does not map (all listed, with the file).
    """
    out, unknown = [], set()
    for o in annotations.of_type(*types):
        try:
            k = lookup(class_map, o.name)
        except KeyError:
            unknown.add(o.name)
            continue
        if k is not None:
            out.append((o.geometry, k))
    if unknown:
        raise ConfigError(f"{annotations.path}: class name(s) not in the class map: "
                          f"{', '.join(sorted(unknown))} (map them with --class-map "
                          "'Name=class,...' or 'Name=ignore')")
    return out


def _polygons(geom):
    """The polygons of a Polygon, MultiPolygon or GeometryCollection (lines, points dropped)."""
    if geom.geom_type == "Polygon":
        return [geom]
    return [p for g in getattr(geom, "geoms", ()) for p in _polygons(g)]


def polygon_mask(geom, shape, *, scale: float = 1.0, origin=(0.0, 0.0)) -> np.ndarray:
    """(h, w) bool: grid pixels whose centres lie in ``geom`` (exterior minus holes).

    Grid pixel (i, j) has its centre at level-0 ``(origin[0] + (i + 0.5) * scale,
    origin[1] + (j + 0.5) * scale)`` (y, x).
    """
    from skimage.draw import polygon as fill

    mask = np.zeros(shape, bool)

    def ring(coords, target, value):
        xy = np.asarray(coords, np.float64)
        rr, cc = fill((xy[:, 1] - origin[0]) / scale - 0.5, (xy[:, 0] - origin[1]) / scale - 0.5, shape)
        target[rr, cc] = value
    for poly in _polygons(geom):
        inside = np.zeros(shape, bool)
        ring(poly.exterior.coords, inside, True)
        for hole in poly.interiors:
            ring(hole.coords, inside, False)
        mask |= inside
    return mask


def rasterise(objects, shape, *, scale: float = 1.0, origin=(0.0, 0.0), fill: int = 255) -> np.ndarray:
    """(h, w) int32 labels of ``[(geometry, class)]`` on a grid (see :func:`polygon_mask`);
    ``fill`` where no object lies; later objects are drawn over earlier ones."""
    from shapely.geometry import box

    h, w = shape
    window = box(origin[1], origin[0], origin[1] + w * scale, origin[0] + h * scale)
    out = np.full(shape, fill, np.int32)
    for geom, k in objects:
        if geom.intersects(window):
            out[polygon_mask(geom, shape, scale=scale, origin=origin)] = int(k)
    return out

"""QuPath GeoJSON out: a ``FeatureCollection`` of classified objects, as QuPath (0.4+) imports it.

A feature is ``{"type": "Feature", "id": UUID, "geometry": Polygon | MultiPolygon,
"properties": {"objectType": "annotation" | "detection" | "cell", "classification":
{"name", "color": [r, g, b]}, "measurements": {name: number}}}``; coordinates are
level-0 pixels ``[x, y]`` of the image (pixel (i, j) covers x in [j, j+1], y in [i, i+1]).
"""

from __future__ import annotations

import json
import math
import uuid

from irpath.errors import ConfigError
from irpath.io.paths import atomic_write_text

OBJECT_TYPES = ("annotation", "detection", "cell")


def feature(geometry: dict, *, name: str, color, object_type: str = "annotation",
            measurements: dict | None = None, properties: dict | None = None,
            feature_id: str | None = None) -> dict:
    """One QuPath feature.

    Args:
        geometry: a GeoJSON ``Polygon`` / ``MultiPolygon`` dict (e.g. ``shapely.geometry.mapping``).
        name, color: the classification (``color``: three ints in 0..255).
        object_type: "annotation" (regions), "detection" or "cell" (nuclei).
        measurements: ``{name: number}`` (non-finite numbers are dropped: JSON has none).
        properties: further properties.
        feature_id: the feature's id (default a new random UUID).
    """
    if object_type not in OBJECT_TYPES:
        raise ConfigError(f"objectType must be one of {', '.join(OBJECT_TYPES)}, got {object_type!r}")
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ConfigError(f"a QuPath object needs a Polygon or MultiPolygon, got {geometry.get('type')!r}")
    props = {"objectType": object_type,
             "classification": {"name": str(name), "color": [int(c) for c in color]},
             "measurements": {str(k): float(v) for k, v in (measurements or {}).items()
                              if v is not None and math.isfinite(float(v))}}
    props.update(properties or {})
    return {"type": "Feature", "id": feature_id or str(uuid.uuid4()), "geometry": geometry,
            "properties": props}


def feature_collection(features, properties: dict | None = None) -> dict:
    """``{"type": "FeatureCollection", "features": [...]}``, with collection-wide
    ``properties`` (e.g. the image's class) when given."""
    out = {"type": "FeatureCollection", "features": list(features)}
    if properties:
        out["properties"] = dict(properties)
    return out


def write_feature_collection(path, collection: dict):
    """Write ``collection`` to ``path`` atomically (whole or not at all); returns the path."""
    return atomic_write_text(path, json.dumps(collection, separators=(",", ":")) + "\n")

"""Test-written QuPath GeoJSON and a small slide with annotated tumour and stroma."""

import json
import uuid

import numpy as np


def feature(coords, name=None, kind="annotation", multi=False):
    geom = {"type": "MultiPolygon" if multi else "Polygon", "coordinates": coords}
    props = {"objectType": kind}
    if name is not None:
        props["classification"] = {"name": name, "color": [200, 0, 0]}
    return {"type": "Feature", "id": str(uuid.uuid4()), "geometry": geom, "properties": props}


def rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def write_geojson(path, features, form="collection"):
    doc = {"type": "FeatureCollection", "features": features} if form == "collection" else \
        (features if form == "list" else features[0])
    path.write_text(json.dumps(doc))
    return path


def annotated_slide(tmp_path, rng, name="s", size=256, mpp=0.5):
    """A pyramidal TIFF: dark purple tumour (left half), pink stroma (right half), white glass
    in a bottom band; GeoJSON: a Tumor square with a hole, Stroma as a MultiPolygon, one
    unclassified object. Returns (slide, geojson, level-0 truth with 255 unannotated)."""
    from tests.io.test_sources import write_pyramid

    h = w = size
    yy, xx = np.mgrid[:h, :w]
    rgb = np.where((xx < w // 2)[..., None], [90.0, 40.0, 140.0], [235.0, 160.0, 190.0])
    rgb[yy >= h - h // 8] = 245.0
    rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    slide = tmp_path / f"{name}.tif"
    write_pyramid(slide, rgb, ome=False, mpp=mpp, levels=2)
    b, m, e = h // 16, w // 2, h - h // 8
    q = size // 4
    feats = [feature([rect(b, b, m - b, e - b), rect(q - 8, q - 8, q + 8, q + 8)], "Tumor"),
             feature([[rect(m + b, b, w - b, q * 2)], [rect(m + b, q * 2 + 4, w - b, e - b)]],
                     "Stroma", multi=True),
             feature([rect(0, e, w, h)], None)]
    geojson = write_geojson(tmp_path / f"{name}.geojson", feats)
    truth = truth_at(size, yy + 0.5, xx + 0.5)
    return slide, geojson, truth


def truth_at(size, y, x):
    """The classes of :func:`annotated_slide` at level-0 points (y, x): 0 tumour, 1 stroma, 255 none."""
    h = w = size
    b, m, e, q = h // 16, w // 2, h - h // 8, size // 4

    def inside(x0, y0, x1, y1):
        return (x > x0) & (x < x1) & (y > y0) & (y < y1)
    truth = np.full(np.shape(y), 255, np.int32)
    truth[inside(b, b, m - b, e - b) & ~inside(q - 8, q - 8, q + 8, q + 8)] = 0
    truth[inside(m + b, b, w - b, q * 2) | inside(m + b, q * 2 + 4, w - b, e - b)] = 1
    return truth

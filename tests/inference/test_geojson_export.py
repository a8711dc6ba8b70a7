"""QuPath GeoJSON out: the fields QuPath reads, valid polygons, level-0 coordinates, objects
joined across tile seams, and the round trip (GeoJSON rasterised back == the map) per method."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from irpath.inference.geojson_export import ObjectKind, map_features
from irpath.methods import get_method

#: The stated round-trip bound: pixels of the map that the rasterised GeoJSON gets wrong.
BOUND = 0.01


def rasterise(features, grid, *, value, downsample=1.0):
    """(H, W) int image of ``features`` drawn on the map's grid (pixel centres inside a
    polygon, level-0 coordinates / ``downsample``); ``value(feature)`` is the pixel value."""
    out = np.zeros(grid, np.int32)
    ys, xs = np.mgrid[:grid[0], :grid[1]]
    for f in features:
        geom = shapely.affinity.scale(shape(f["geometry"]), 1 / downsample, 1 / downsample, origin=(0, 0))
        out[shapely.contains_xy(geom, xs + 0.5, ys + 0.5)] = value(f)
    return out


def assert_round_trip(what, features, truth, value, downsample=1.0):
    """Rasterise ``features`` onto ``truth``'s grid, print the disagreement and check the bound."""
    back = rasterise(features, truth.shape, value=value, downsample=downsample)
    disagreement = (back != truth).mean()
    print(f"{what} round-trip disagreement {disagreement:.4%}")
    assert disagreement <= BOUND
    return back


FCN_VALUE = lambda f: {"cancer": 1, "stroma": 2}[f["properties"]["classification"]["name"]]  # noqa: E731


def blobs(rng, h, w, n, r=(5, 12)):
    """(H, W) int ids 1..n of random discs (later ones over earlier ones)."""
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros((h, w), np.int32)
    for i in range(1, n + 1):
        cy, cx, rad = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(*r)
        out[(yy - cy) ** 2 + (xx - cx) ** 2 < rad ** 2] = i
    return out


def check_qupath_fields(collection, object_type):
    assert collection["type"] == "FeatureCollection"
    ids = set()
    for f in collection["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        ids.add(f["id"])
        assert len(f["id"]) == 36 and f["id"].count("-") == 4  # a UUID
        p = f["properties"]
        assert p["objectType"] == object_type
        assert isinstance(p["classification"]["name"], str) and len(p["classification"]["color"]) == 3
        m = p["measurements"]
        assert ("Area µm^2" in m or "Area px^2" in m) and 0 <= m["Mean probability"] <= 1
        geom = shape(f["geometry"])
        assert shapely.is_valid(geom) and geom.area > 0
    assert len(ids) == len(collection["features"])
    json.dumps(collection)  # plain JSON


def test_holes_islands_and_a_seam_cut_object_come_out_whole():
    yy, xx = np.mgrid[:120, :150]
    d = (yy - 60) ** 2 + (xx - 75) ** 2
    keys = ((d < 45 ** 2) & ~(d < 15 ** 2) | (d < 6 ** 2)).astype(np.int32)  # ring with an island
    kinds = {1: ObjectKind("tumour", (200, 0, 0), split=True)}
    for tile in (1024, 32, 29):  # whole; seams cut the ring in many places
        feats = map_features(keys, None, kinds, tile=tile)
        geoms = [shape(f["geometry"]) for f in feats]
        assert len(feats) == 2, tile  # the ring (one polygon, one hole) and the island
        ring = max(geoms, key=lambda g: g.area)
        assert ring.geom_type == "Polygon" and len(ring.interiors) == 1
        assert all(shapely.is_valid(g) for g in geoms)
        assert_round_trip(f"ring, tile {tile}", feats, keys, lambda f: 1)
    # instances (one feature per id, as nuclei and glands) cut by seams: still one each
    inst = blobs(np.random.default_rng(5), 90, 90, 12, (5, 10))
    ids = np.unique(inst[inst > 0])
    feats = map_features(inst, None, lambda key: ObjectKind(f"id{key}", (0, 0, 0)), tile=17)
    assert sorted(f["properties"]["classification"]["name"] for f in feats) == sorted(f"id{i}" for i in ids)
    assert_round_trip("instances, tile 17", feats, inst,
                      lambda f: int(f["properties"]["classification"]["name"][2:]))
    # tiny objects are dropped (below MIN_AREA map pixels)
    dot = np.zeros((20, 20), np.int32)
    dot[5, 5] = 1
    assert map_features(dot, None, kinds) == []


def test_fcn_round_trip_and_the_mean_class_probability():
    method = get_method("fcn")
    rng = np.random.default_rng(0)
    h, w = 96, 128
    classes = np.full((h, w), 2, np.int32)  # background
    classes[blobs(rng, h, w, 6, (8, 20)) > 0] = 0  # cancer
    classes[blobs(rng, h, w, 5, (6, 14)) > 0] = 1  # stroma
    maps = np.full((h, w, 3), 0.1, np.float32)
    maps[..., 2] = 0.2
    np.put_along_axis(maps, classes[..., None], 0.8, axis=-1)
    maps[..., 0][classes == 0] = 0.7
    prepared = SimpleNamespace(downsample=1.0, mpp=0.5, tissue=np.ones((h, w), bool))
    cfg = method.config_class()
    result = method.postprocess(maps, prepared, cfg)
    col = method.geojson_features(result, maps, prepared, cfg)
    check_qupath_fields(col, "annotation")
    names = [f["properties"]["classification"]["name"] for f in col["features"]]
    assert names == ["cancer", "stroma"]  # one (multi)polygon annotation per class
    by = {n: f for n, f in zip(names, col["features"])}
    assert by["cancer"]["properties"]["measurements"]["Mean probability"] == pytest.approx(0.7, abs=1e-6)
    area = by["cancer"]["properties"]["measurements"]["Area µm^2"]
    assert area == pytest.approx((classes == 0).sum() * 0.25, rel=0.03)
    assert_round_trip("fcn", col["features"], np.array([1, 2, 0])[classes], FCN_VALUE)


def test_nuclei_one_detection_per_nucleus_with_its_class_round_trips():
    method = get_method("nuclei")
    rng = np.random.default_rng(1)
    h, w = 96, 96
    yy, xx = np.mgrid[:h, :w]
    maps = np.zeros((h, w, 5), np.float32)
    maps[..., 0] = 1.0
    truth_classes = []
    for k, (cy, cx) in enumerate([(15, 15), (15, 50), (50, 20), (50, 60), (80, 30), (80, 80), (30, 82)]):
        c = k % 3
        d = (yy - cy) ** 2 + (xx - cx) ** 2
        r = rng.uniform(6, 9)
        maps[d < r ** 2] = 0
        maps[..., 4][(d < r ** 2)] = 1.0  # contour rim
        inner = d < (r - 1.5) ** 2
        maps[inner] = 0
        maps[..., 1 + c][inner] = 0.9
        maps[..., 4][inner] = 0.1
        truth_classes.append(c)
    prepared = SimpleNamespace(downsample=1.0, mpp=None, tissue=np.ones((h, w), bool))
    cfg = method.config_class(min_area=5)
    result = method.postprocess(maps, prepared, cfg)
    col = method.geojson_features(result, maps, prepared, cfg)
    check_qupath_fields(col, "detection")
    assert len(col["features"]) == result["summary"]["nuclei"] == 7
    names = sorted(f["properties"]["classification"]["name"] for f in col["features"])
    assert names == sorted(["tumour", "lymphocyte", "stroma"][c] for c in truth_classes)
    assert all("Area px^2" in f["properties"]["measurements"] for f in col["features"])  # no µm/px
    assert_round_trip("nuclei", col["features"], result["arrays"]["classes"], lambda f: 1 + [
        "tumour", "lymphocyte", "stroma"].index(f["properties"]["classification"]["name"]))


def test_multiloss_one_annotation_per_gland_and_the_image_class():
    method = get_method("multiloss")
    rng = np.random.default_rng(2)
    h, w = 80, 112
    inst = blobs(rng, h, w, 5, (8, 16))
    p = np.where(inst > 0, 0.9, 0.1).astype(np.float32)
    maps = np.stack([p, 1 - p, np.zeros_like(p), np.full_like(p, 0.2), np.full_like(p, 0.8)], -1)
    prepared = SimpleNamespace(downsample=1.0, mpp=None, tissue=np.ones((h, w), bool))
    cfg = method.config_class()
    result = method.postprocess(maps, prepared, cfg)
    col = method.geojson_features(result, maps, prepared, cfg)
    check_qupath_fields(col, "annotation")
    assert col["properties"]["class"] == "malignant" and col["properties"]["p_malignant"] == pytest.approx(0.8)
    assert len(col["features"]) == result["summary"]["glands"]
    assert {f["properties"]["classification"]["name"] for f in col["features"]} == {"gland"}
    assert_round_trip("multiloss", col["features"], result["arrays"]["inst"] > 0, lambda f: 1)


def test_compsegnet_tumour_regions_within_tissue():
    method = get_method("compsegnet")
    h, w = 64, 80
    yy, xx = np.mgrid[:h, :w]
    amap = (np.exp(-((yy - 30) ** 2 + (xx - 30) ** 2) / 300.0)
            + 0.8 * np.exp(-((yy - 40) ** 2 + (xx - 68) ** 2) / 60.0))
    maps = amap[..., None].astype(np.float32)
    tissue = xx < 72  # the second region is cut by the tissue's edge
    prepared = SimpleNamespace(downsample=1.0, mpp=None, tissue=tissue)
    cfg = method.config_class()
    result = method.postprocess(maps, prepared, cfg)
    col = method.geojson_features(result, maps, prepared, cfg)
    check_qupath_fields(col, "annotation")
    assert len(col["features"]) == 2
    truth = (amap >= cfg.threshold) & tissue
    back = assert_round_trip("compsegnet", col["features"], truth, lambda f: 1)
    assert abs(back.sum() / tissue.sum() - result["summary"]["tumour_fraction"]) < BOUND


def tissue_predictor():
    """An fcn stand-in: cancer where the pixel is stained (grey < 0.8), else background."""
    from irpath.inference.loading import Predictor
    from irpath.methods.fcn.config import FcnConfig

    def predict(x):
        g = np.asarray(x, np.float32).mean(axis=-1, keepdims=True) / 255.0
        c = 1 / (1 + np.exp(-(0.8 - g) * 40))
        return np.concatenate([c, np.full_like(c, 0.05), 1 - c], axis=-1)
    return Predictor(predict=predict, method="fcn", config=FcnConfig(), source="stand-in")


def test_predict_geojson_on_a_slide_read_at_level_1_is_in_level_0_pixels(tmp_path, rng):
    from irpath.inference.predict import PredictOptions, predict_files
    from tests.inference.test_slides import synthetic_slide
    from tests.io.test_sources import write_pyramid

    rgb, _ = synthetic_slide(rng, 256, 320)
    write_pyramid(tmp_path / "s.ome.tif", rgb, ome=True, mpp=0.5, levels=2)
    opts = PredictOptions(level=1, tile=64, overlap=16, progress=False, geojson=True, tissue="none")
    summary = predict_files(tissue_predictor(), [tmp_path / "s.ome.tif"], tmp_path / "out", options=opts)
    row = summary["predictions"][0]
    assert row["downsample"] == pytest.approx(2.0) and row["geojson"] == "s.geojson"
    col = json.loads((tmp_path / "out" / "s.geojson").read_text())
    check_qupath_fields(col, "annotation")
    assert row["geojson_features"] == len(col["features"]) >= 1
    classes = np.load(tmp_path / "out" / row["classes"])
    assert classes.shape == (128, 160)
    union = shapely.union_all([shape(f["geometry"]) for f in col["features"]])
    assert union.bounds[2] > 160 and union.bounds[3] > 128  # level-0 pixels, not level 1
    assert union.bounds[2] <= 320 and union.bounds[3] <= 256
    assert_round_trip("slide (level 1)", col["features"], np.array([1, 2, 0])[classes], FCN_VALUE,
                      downsample=2.0)
    m = col["features"][0]["properties"]["measurements"]
    # level 1 of a 0.5 µm/px slide: 1 µm per map pixel, 0.25 µm² per level-0 pixel
    assert m["Area µm^2"] == pytest.approx(shape(col["features"][0]["geometry"]).area * 0.25)


def test_geojson_is_planned_by_the_output_guard(tmp_path, rng, capsys):
    from PIL import Image

    from irpath.cli.main import main
    from irpath.inference.predict import PredictOptions, predict_files
    from irpath.io.paths import OutputError
    from tests.inference.test_slides import box_mean_predictor

    img = tmp_path / "t.png"
    Image.fromarray(rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)).save(img)
    out = tmp_path / "out"
    out.mkdir()
    (out / "t.geojson").write_text("{}")  # a file predict did not write
    with pytest.raises(OutputError):
        predict_files(box_mean_predictor(), [img], out, options=PredictOptions(geojson=True, progress=False))
    assert (out / "t.geojson").read_text() == "{}"
    rc = main(["predict", "--model", str(tmp_path / "none"), "--input", str(img), "--out", str(tmp_path / "o"),
               "--simplify", "1"])
    assert rc == 2 and "--geojson" in capsys.readouterr().err


def test_evaluate_geojson_writes_the_predictions_as_qupath_objects(tmp_path, rng):
    from PIL import Image

    from irpath.io.colour_labels import read_colour_labels, write_colour_labels
    from tests.inference.test_slides import synthetic_slide

    data = tmp_path / "d"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    rgb, tissue = synthetic_slide(rng, 64, 80)
    Image.fromarray(rgb).save(data / "images" / "a.png")
    write_colour_labels(data / "labels" / "a.png", np.where(tissue, 0, 2))
    method = get_method("fcn")
    opts = method.evaluate_options(manifest=str(data), geojson=True)
    report = method.evaluate(tissue_predictor(), opts, tmp_path / "eval")
    assert report["images"][0]["geojson"] == "geojson/a.geojson"
    col = json.loads((tmp_path / "eval" / "geojson" / "a.geojson").read_text())
    check_qupath_fields(col, "annotation")
    pred = read_colour_labels(tmp_path / "eval" / "predictions" / "a.png")
    assert_round_trip("fcn evaluate", col["features"], np.array([1, 2, 0])[pred], FCN_VALUE)

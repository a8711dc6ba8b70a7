"""QuPath GeoJSON in: objects, class maps, rasterisation (holes, MultiPolygons, unclassified)."""

import numpy as np
import pytest

from irpath.errors import ConfigError, DataFileError
from irpath.io.qupath import (FCN_DEFAULT_CLASS_MAP, classify, parse_class_map, rasterise,
                              read_qupath)
from tests.io.qupath_files import annotated_slide, feature, rect, truth_at, write_geojson

CLASSES = ("cancer", "stroma", "background")


def test_annotations_rasterise_to_the_expected_labels(tmp_path, rng):
    _, geojson, truth = annotated_slide(tmp_path, rng, size=64)
    ann = read_qupath(geojson)
    assert [o.object_type for o in ann.objects] == ["annotation"] * 3
    assert [o.name for o in ann.objects] == ["Tumor", "Stroma", None]
    assert ann.objects[0].geometry.geom_type == "Polygon" and len(ann.objects[0].geometry.interiors) == 1
    objects = classify(ann, parse_class_map(None, CLASSES, FCN_DEFAULT_CLASS_MAP))
    assert [k for _, k in objects] == [0, 1]  # the unclassified object is skipped
    np.testing.assert_array_equal(rasterise(objects, (64, 64)), truth)
    # a coarser grid (2 level-0 px per pixel) in an offset window: centres at (9 + 2i, 5 + 2j)
    yy, xx = np.mgrid[:16, :24]
    np.testing.assert_array_equal(rasterise(objects, (16, 24), scale=2.0, origin=(8.0, 4.0)),
                                  truth_at(64, 9 + 2.0 * yy, 5 + 2.0 * xx))


def test_class_map_and_one_line_errors(tmp_path):
    path = write_geojson(tmp_path / "a.geojson", [feature([rect(0, 0, 4, 4)], "Tumor"),
                                                  feature([rect(4, 4, 8, 8)], "Weird"),
                                                  feature([rect(1, 1, 3, 3)], "Odd", kind="detection")])
    ann = read_qupath(path)
    with pytest.raises(ConfigError, match=r"a\.geojson: class name\(s\) not in the class map: Weird \("):
        classify(ann, parse_class_map(None, CLASSES, FCN_DEFAULT_CLASS_MAP))
    cmap = parse_class_map("Tumor=cancer, Weird=ignore", CLASSES)
    assert cmap == {"tumor": 0, "weird": None}
    assert [k for _, k in classify(ann, cmap)] == [0]
    assert [k for _, k in classify(ann, parse_class_map("odd=stroma", CLASSES), ("detection",))] == [1]
    with pytest.raises(ConfigError, match="unknown class"):
        parse_class_map("Tumor=tumour", CLASSES)
    with pytest.raises(ConfigError, match="not NAME=CLASS"):
        parse_class_map("Tumor", CLASSES)


@pytest.mark.parametrize("form", ["feature", "list"])
def test_single_features_and_bare_lists(tmp_path, form):
    path = write_geojson(tmp_path / "f.geojson", [feature([rect(0, 0, 4, 4)], "Stroma", kind="cell")],
                         form)
    ann = read_qupath(path)
    assert len(ann.objects) == 1 and ann.objects[0].object_type == "cell"


@pytest.mark.parametrize("text, match", [("{", "not a JSON file"), ('{"type": "Point"}', "not GeoJSON"),
                                         ('[{"type": "Feature", "geometry": {"type": "Point", '
                                          '"coordinates": [1, 2]}}]', "feature 0 is a Point")])
def test_bad_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad.geojson"
    path.write_text(text)
    with pytest.raises(DataFileError, match=f"bad.geojson: {match}"):
        read_qupath(path)
